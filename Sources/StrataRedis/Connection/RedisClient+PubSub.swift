import Logging
import NIOCore
import StrataCore

/// One message received on a subscribed channel.
public struct PubSubMessage: Sendable, Equatable {
    public var channel: String
    public var payload: [UInt8]

    /// The payload as UTF-8 text.
    public var text: String { String(decoding: payload, as: UTF8.self) }
}

extension RedisClient {
    /// `PUBLISH channel message`: how many subscribers received it.
    @discardableResult
    public func publish(_ message: String, to channel: String) async throws -> Int {
        Int(try await send([Array("PUBLISH".utf8), Array(channel.utf8), Array(message.utf8)]).integer ?? 0)
    }

    /// Subscribes to channels on a connection of its own (RESP3 pushes) and returns the messages
    /// as they arrive. The subscription ends when the returned sequence is no longer iterated
    /// and ``RedisSubscription/close()`` is called, or when the connection drops (the sequence
    /// then finishes; subscribe again to resume — pub/sub does not replay missed messages, use
    /// streams for that).
    public func subscribe(to channels: [String]) async throws -> RedisSubscription {
        let (stream, continuation) = AsyncStream.makeStream(of: PubSubMessage.self, bufferingPolicy: .bufferingNewest(10_000))
        let connection = try await RedisConnection.connect(
            to: configuration.url,
            clientName: configuration.clientName + "-subscriber",
            connectTimeout: configuration.connectTimeout,
            commandTimeout: configuration.commandTimeout,
            onPush: { push in
                guard case .push(let items) = push, items.count == 3, items[0].string == "message",
                    let channel = items[1].string, case .bulkString(let payload) = items[2]
                else { return }
                continuation.yield(PubSubMessage(channel: channel, payload: payload))
            },
            logger: Logger(label: "strata.redis.subscriber")
        )
        guard connection.protocolVersion == 3 else {
            await connection.close()
            throw StrataError(.redisCommandFailed, "Subscriptions need a RESP3 server (Redis 6 or later).")
        }
        connection.channel.closeFuture.whenComplete { _ in continuation.finish() }
        try await connection.sendExpectingPushes([Array("SUBSCRIBE".utf8)] + channels.map { Array($0.utf8) })
        // PING is answered in order after the subscription is in place.
        _ = try await connection.send([Array("PING".utf8)], timeout: configuration.connectTimeout)
        return RedisSubscription(messages: stream, connection: connection)
    }
}

/// Messages of a subscription, and the connection that receives them.
public struct RedisSubscription: Sendable {
    /// The messages, in the order received.
    public let messages: AsyncStream<PubSubMessage>
    let connection: RedisConnection

    /// Ends the subscription.
    public func close() async {
        await connection.close()
    }
}

import Logging
import StrataCore

/// A subscription to Redis Pub/Sub channels, on a connection of its own.
///
/// Messages arrive in ``messages`` in the order Redis sent them. Pub/Sub is fire-and-forget:
/// a message published while no subscriber is connected is gone (use streams for anything
/// that must not be lost). When the consumer falls more than ``bufferLimit`` messages behind,
/// the oldest are dropped, as Redis itself drops slow subscribers. The stream ends when the
/// subscription is closed or its connection is lost; subscribe again to resume.
///
/// ```swift
/// let subscription = try await redis.subscribe(to: ["strata:cache:invalidate"])
/// for await message in subscription.messages { cache.forget(message.text) }
/// ```
public final class RedisSubscription: Sendable {
    /// One published message.
    public struct Message: Sendable, Equatable {
        public var channel: String
        public var payload: [UInt8]
        /// The payload as UTF-8 text.
        public var text: String { String(decoding: payload, as: UTF8.self) }
    }

    /// The most messages kept for a slow consumer.
    public static let bufferLimit = 10_000

    /// The messages, until ``close()`` or a lost connection.
    public let messages: AsyncStream<Message>
    /// The channels subscribed to.
    public let channels: [String]
    private let connection: RedisConnection

    private init(messages: AsyncStream<Message>, channels: [String], connection: RedisConnection) {
        self.messages = messages
        self.channels = channels
        self.connection = connection
    }

    /// Opens a connection, subscribes and returns once Redis has confirmed the subscription
    /// (so that a message published afterwards is received).
    /// - Throws: `redis_unavailable`, `redis_timeout`; `invalid_value` for no channels.
    static func open(configuration: RedisClient.Configuration, channels: [String], logger: Logger) async throws -> RedisSubscription {
        guard !channels.isEmpty else { throw StrataError(.invalidValue, "Subscribe to at least one channel.") }
        let (messages, continuation) = AsyncStream.makeStream(of: Message.self, bufferingPolicy: .bufferingNewest(bufferLimit))
        let connection = try await RedisConnection.connect(
            to: configuration.url,
            clientName: configuration.clientName + "-subscriber",
            connectTimeout: configuration.connectTimeout,
            commandTimeout: max(configuration.commandTimeout, configuration.connectTimeout),
            onPush: { value in
                if let message = Self.message(in: value) { continuation.yield(message) }
            },
            onClose: { continuation.finish() },
            pubSub: true,
            logger: logger
        )
        do {
            try await connection.sendExpectingNoReply((["SUBSCRIBE"] + channels).map { Array($0.utf8) })
            // Redis answers in order: once PING is answered, the confirmations came before it.
            _ = try await connection.send([Array("PING".utf8)], timeout: max(configuration.commandTimeout, .seconds(1)))
        } catch {
            await connection.close()
            throw error
        }
        return RedisSubscription(messages: messages, channels: channels, connection: connection)
    }

    /// Ends the subscription and its message stream.
    public func close() async {
        await connection.close()
    }

    /// The message of a `message` push (`[message, channel, payload]`), if it is one.
    static func message(in value: RESPValue) -> Message? {
        let items: [RESPValue]
        switch value {
        case .push(let values), .array(let values): items = values
        default: return nil
        }
        guard items.count == 3, items[0].string == "message", let channel = items[1].string else { return nil }
        let payload: [UInt8]
        switch items[2] {
        case .bulkString(let bytes): payload = bytes
        case .simpleString(let text): payload = Array(text.utf8)
        default: return nil
        }
        return Message(channel: channel, payload: payload)
    }
}

extension RedisClient {
    /// `PUBLISH channel message`.
    /// - Returns: How many subscribers received it.
    @discardableResult
    public func publish(_ message: String, to channel: String) async throws -> Int {
        Int(try await send(["PUBLISH", channel, message].map { Array($0.utf8) }).integer ?? 0)
    }

    /// Subscribes to channels on a connection of its own (see ``RedisSubscription``).
    public func subscribe(to channels: [String]) async throws -> RedisSubscription {
        try await RedisSubscription.open(configuration: configuration, channels: channels, logger: logger)
    }
}

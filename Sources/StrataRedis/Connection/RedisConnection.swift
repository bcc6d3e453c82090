public import Logging
public import NIOCore
import NIOPosix
import StrataCore

/// One connection to Redis, shared by any number of concurrent callers: commands are written
/// as they come and replies are matched in order (pipelining).
///
/// On connect it says `HELLO 3` (RESP3, with `AUTH` and `SETNAME` folded in) and falls back to
/// RESP2 (`AUTH`, `CLIENT SETNAME`) on servers without `HELLO`, then `SELECT`s the database.
///
/// A command that outlives its timeout fails with `redis_timeout`; its reply, when it comes,
/// is dropped, so it can never be handed to a later command.
public final class RedisConnection: Sendable {
    let channel: any Channel
    /// 3 when the server accepted `HELLO 3`, else 2.
    public let protocolVersion: Int

    private init(channel: any Channel, protocolVersion: Int) {
        self.channel = channel
        self.protocolVersion = protocolVersion
    }

    /// Whether the connection is closed.
    public var isClosed: Bool { !channel.isActive }

    /// Opens and prepares a connection.
    /// - Throws: `redis_unavailable` when Redis cannot be reached or refuses the credentials.
    public static func connect(
        to url: RedisURL,
        clientName: String = "strata",
        connectTimeout: Duration = .seconds(1),
        commandTimeout: Duration = .seconds(1),
        onPush: (@Sendable (RESPValue) -> Void)? = nil,
        onClose: (@Sendable () -> Void)? = nil,
        pubSub: Bool = false,
        eventLoop: (any EventLoop)? = nil,
        logger: Logger
    ) async throws -> RedisConnection {
        let bootstrap = ClientBootstrap(group: eventLoop ?? MultiThreadedEventLoopGroup.singleton.next())
            .connectTimeout(.milliseconds(connectTimeout.milliseconds))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RedisCommandHandler(onPush: onPush, onClose: onClose, pubSub: pubSub))
                }
            }
        let channel: any Channel
        do {
            switch url.address {
            case .tcp(let host, let port):
                channel = try await bootstrap.connect(host: host, port: port).get()
            case .unix(let path):
                channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
            }
        } catch {
            throw StrataError(.redisUnavailable, "Cannot connect to Redis at \(url.endpointDescription).", underlying: error)
        }
        do {
            let version = try await handshake(channel: channel, url: url, clientName: clientName, timeout: commandTimeout)
            return RedisConnection(channel: channel, protocolVersion: version)
        } catch {
            try? await channel.close()
            throw error
        }
    }

    private static func handshake(channel: any Channel, url: RedisURL, clientName: String, timeout: Duration) async throws -> Int {
        var hello = ["HELLO", "3"]
        if let password = url.password { hello += ["AUTH", url.username ?? "default", password] }
        hello += ["SETNAME", clientName]
        var version = 3
        let reply = try await send(hello.map { Array($0.utf8) }, on: channel, timeout: timeout)
        if case .error(let message) = reply {
            let upper = message.uppercased()
            guard upper.hasPrefix("NOPROTO") || upper.contains("UNKNOWN COMMAND") else {
                throw StrataError(.redisUnavailable, "Redis refused the connection: \(Self.firstWord(message)).")
            }
            version = 2
            if let password = url.password {
                let auth = url.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
                try check(try await send(auth.map { Array($0.utf8) }, on: channel, timeout: timeout), "AUTH")
            }
            try check(try await send(["CLIENT", "SETNAME", clientName].map { Array($0.utf8) }, on: channel, timeout: timeout), "CLIENT SETNAME")
        }
        if url.database != 0 {
            try check(try await send(["SELECT", "\(url.database)"].map { Array($0.utf8) }, on: channel, timeout: timeout), "SELECT")
        }
        return version
    }

    private static func check(_ reply: RESPValue, _ command: String) throws {
        if case .error(let message) = reply {
            throw StrataError(.redisUnavailable, "Redis refused \(command): \(firstWord(message)).")
        }
    }

    /// The error's code word (`WRONGPASS`, `NOAUTH` …), never the rest, which may echo input.
    static func firstWord(_ message: String) -> String {
        String(message.split(separator: " ").first ?? "ERR")
    }

    /// Sends one command and waits for its reply (an `.error` reply is returned, not thrown).
    /// - Throws: `redis_timeout` after `timeout`; `redis_unavailable` when the connection fails.
    public func send(_ arguments: [[UInt8]], timeout: Duration) async throws -> RESPValue {
        try await Self.send(arguments, on: channel, timeout: timeout)
    }

    static func send(_ arguments: [[UInt8]], on channel: any Channel, timeout: Duration) async throws -> RESPValue {
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        let slot = ReplySlot(promise: promise, timeout: timeout)
        var buffer = channel.allocator.buffer(capacity: arguments.reduce(16) { $0 + $1.count + 16 })
        RESPEncoder.encode(arguments, into: &buffer)
        channel.writeAndFlush(RedisRequest(bytes: buffer, slot: slot)).whenFailure { error in
            slot.complete(.failure(StrataError(.redisUnavailable, "Cannot write to Redis.", underlying: error)))
        }
        return try await promise.futureResult.get()
    }

    /// Writes a command that Redis answers with pushes only (`SUBSCRIBE`, `UNSUBSCRIBE`).
    func sendExpectingNoReply(_ arguments: [[UInt8]]) async throws {
        var buffer = channel.allocator.buffer(capacity: arguments.reduce(16) { $0 + $1.count + 16 })
        RESPEncoder.encode(arguments, into: &buffer)
        do {
            try await channel.writeAndFlush(RedisRequest(bytes: buffer, slot: nil)).get()
        } catch {
            throw StrataError(.redisUnavailable, "Cannot write to Redis.", underlying: error)
        }
    }

    /// Closes the connection; waiting commands fail with `redis_unavailable`.
    public func close() async {
        try? await channel.close()
    }
}

extension RedisURL {
    /// The address without credentials, for messages.
    public var endpointDescription: String {
        switch address {
        case .tcp(let host, let port): "\(host):\(port)"
        case .unix(let path): path
        }
    }
}

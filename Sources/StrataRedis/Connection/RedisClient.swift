public import Logging
import Metrics
import NIOCore
import NIOPosix
public import ServiceLifecycle
import StrataCore
import Synchronization

/// Strata's Redis client: a few shared, pipelined connections, a per-command timeout and a
/// circuit breaker.
///
/// - Commands go round-robin over ``Configuration/connections`` connections; each is shared by
///   any number of concurrent callers (replies are matched in order).
/// - A closed connection is replaced on the next command that needs it.
/// - After ``Configuration/failureThreshold`` consecutive failures to reach Redis the breaker
///   opens: commands fail at once with `redis_unavailable` for ``Configuration/openDuration``;
///   then one probe command is let through, and its success closes the breaker again. Redis
///   being down therefore costs callers nothing but the fallback, not a timeout each.
///
/// ```swift
/// let redis = RedisClient(configuration: .init(url: try RedisURL(parsing: "redis://127.0.0.1:6379/0")), logger: logger)
/// try await redis.set("greeting", to: "hello", expiration: .seconds(60))
/// let value = try await redis.get("greeting")
/// ```
public final class RedisClient: Service, Sendable {
    /// How the client connects and when it gives up.
    public struct Configuration: Sendable {
        public var url: RedisURL
        /// Connections shared by all callers.
        public var connections: Int
        /// The longest wait for a reply (default 250 ms).
        public var commandTimeout: Duration
        /// The longest wait to open a connection.
        public var connectTimeout: Duration
        /// Consecutive failures that open the breaker.
        public var failureThreshold: Int
        /// How long the open breaker fails commands at once before letting a probe through; it
        /// doubles after each failed probe, up to ``maximumOpenDuration`` (reconnect backoff).
        public var openDuration: Duration
        /// The longest the breaker stays open between probes.
        public var maximumOpenDuration: Duration
        /// `CLIENT SETNAME`.
        public var clientName: String

        public init(
            url: RedisURL,
            connections: Int = 2,
            commandTimeout: Duration = .milliseconds(250),
            connectTimeout: Duration = .milliseconds(500),
            failureThreshold: Int = 3,
            openDuration: Duration = .seconds(1),
            maximumOpenDuration: Duration = .seconds(10),
            clientName: String = "strata"
        ) {
            self.url = url
            self.connections = max(1, connections)
            self.commandTimeout = commandTimeout
            self.connectTimeout = connectTimeout
            self.failureThreshold = max(1, failureThreshold)
            self.openDuration = openDuration
            self.maximumOpenDuration = max(openDuration, maximumOpenDuration)
            self.clientName = clientName
        }
    }

    /// The breaker's state, for metrics and `/ready`.
    public enum BreakerState: String, Sendable {
        case closed, open
        case halfOpen = "half_open"
    }

    private struct State {
        var connections: [RedisConnection?]
        /// Connects in progress per slot: concurrent callers share one instead of each opening
        /// a connection of their own (a connection storm when many callers start at once).
        var connecting: [Int: Task<RedisConnection, any Error>] = [:]
        var next = 0
        var consecutiveFailures = 0
        var openUntil: ContinuousClock.Instant?
        var probing = false
        /// Failed probes since the breaker last closed: each doubles the next open period.
        var failedProbes = 0
        var shutDown = false
    }

    public let configuration: Configuration
    /// The one event loop (thread) all of this client's connections use. Pipelined connections
    /// need little CPU each; keeping them on one thread avoids cross-thread hand-offs and, on a
    /// small machine shared with the Redis server, leaves the other cores to it (measured on 2
    /// cores: 236k ops/s on one loop, 118k spread over two).
    let eventLoop: any EventLoop
    private let state: Mutex<State>
    let logger: Logger
    /// `strata_redis_circuit_open`: 1 while the breaker is open, else 0.
    private let circuitOpen = Gauge(label: "strata_redis_circuit_open")

    public init(configuration: Configuration, logger: Logger) {
        self.eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        self.configuration = configuration
        self.state = Mutex(State(connections: Array(repeating: nil, count: configuration.connections)))
        self.logger = logger
    }

    /// Keeps the client until shutdown, then closes its connections.
    public func run() async {
        try? await gracefulShutdown()
        await close()
    }

    /// Closes every connection; later commands fail with `redis_unavailable`.
    public func close() async {
        let connections = state.withLock { state in
            state.shutDown = true
            defer { state.connections = Array(repeating: nil, count: state.connections.count) }
            return state.connections.compactMap { $0 }
        }
        for connection in connections { await connection.close() }
    }

    /// The breaker's current state.
    public var breakerState: BreakerState {
        state.withLock { state in
            guard let openUntil = state.openUntil else { return .closed }
            return ContinuousClock.now < openUntil ? .open : .halfOpen
        }
    }

    /// Sends a command and returns its reply; an error reply throws `redis_command_failed`.
    /// - Throws: `redis_unavailable` (breaker open, connection failed), `redis_timeout`.
    /// - Parameter timeout: This command's timeout (blocking reads need more than the default).
    @discardableResult
    public func send(_ arguments: [[UInt8]], timeout: Duration? = nil) async throws -> RESPValue {
        let (slot, isProbe) = try admit()
        do {
            let connection = try await connection(at: slot)
            let reply = try await connection.send(arguments, timeout: timeout ?? configuration.commandTimeout)
            recordSuccess()
            if case .error(let message) = reply {
                throw StrataError(
                    .redisCommandFailed,
                    "Redis rejected the command: \(RedisConnection.firstWord(message)).",
                    details: ["reply": RedisConnection.firstWord(message)]
                )
            }
            return reply
        } catch let error as StrataError where error.code == .redisUnavailable || error.code == .redisTimeout {
            recordFailure(slot: slot, wasProbe: isProbe)
            throw error
        }
    }

    /// Sends a command given as strings.
    @discardableResult
    public func send(_ arguments: String...) async throws -> RESPValue {
        try await send(arguments.map { Array($0.utf8) })
    }

    // MARK: Breaker and connections

    /// Picks a connection slot, or fails fast while the breaker is open.
    private func admit() throws -> (Int, Bool) {
        try state.withLock { state in
            guard !state.shutDown else { throw StrataError(.redisUnavailable, "The Redis client is shut down.") }
            var isProbe = false
            if let openUntil = state.openUntil {
                if ContinuousClock.now < openUntil || state.probing {
                    throw StrataError(.redisUnavailable, "Redis is unavailable (circuit open); the hot layer is bypassed.")
                }
                state.probing = true
                isProbe = true
            }
            let slot = state.next
            state.next = (state.next + 1) % state.connections.count
            return (slot, isProbe)
        }
    }

    private func recordSuccess() {
        let reopened = state.withLock { state -> Bool in
            state.consecutiveFailures = 0
            state.probing = false
            state.failedProbes = 0
            defer { state.openUntil = nil }
            return state.openUntil != nil
        }
        if reopened {
            circuitOpen.record(0)
            logger.notice("Redis is reachable again; circuit closed")
        }
    }

    private func recordFailure(slot: Int, wasProbe: Bool) {
        let (opened, stale, openFor) = state.withLock { state -> (Bool, RedisConnection?, Duration) in
            state.consecutiveFailures += 1
            state.probing = false
            var stale: RedisConnection?
            if let connection = state.connections[slot], connection.isClosed {
                stale = connection
                state.connections[slot] = nil
            }
            guard wasProbe || (state.openUntil == nil && state.consecutiveFailures >= configuration.failureThreshold) else {
                return (false, stale, .zero)
            }
            let openFor = Self.openPeriod(afterFailedProbes: state.failedProbes, configuration: configuration)
            if wasProbe { state.failedProbes += 1 }
            state.openUntil = .now + openFor
            return (!wasProbe, stale, openFor)
        }
        if opened {
            circuitOpen.record(1)
            logger.warning("Redis is unreachable; circuit open", metadata: ["strata.redis.open_ms": "\(openFor.milliseconds)"])
        }
        if let stale { Task { await stale.close() } }
    }

    /// The open period after `failedProbes` failed probes: ``Configuration/openDuration``
    /// doubled each time, capped at ``Configuration/maximumOpenDuration``.
    static func openPeriod(afterFailedProbes failedProbes: Int, configuration: Configuration) -> Duration {
        let factor = Double(1 << min(failedProbes, 20))
        return min(configuration.openDuration * factor, configuration.maximumOpenDuration)
    }

    private func connection(at slot: Int) async throws -> RedisConnection {
        let (existing, task) = state.withLock { state -> (RedisConnection?, Task<RedisConnection, any Error>?) in
            if let existing = state.connections[slot], !existing.isClosed { return (existing, nil) }
            if let running = state.connecting[slot] { return (nil, running) }
            let configuration = configuration
            let logger = logger
            let task = Task {
                try await RedisConnection.connect(
                    to: configuration.url,
                    clientName: configuration.clientName,
                    connectTimeout: configuration.connectTimeout,
                    commandTimeout: max(configuration.commandTimeout, configuration.connectTimeout),
                    eventLoop: eventLoop,
                    logger: logger
                )
            }
            state.connecting[slot] = task
            return (nil, task)
        }
        if let existing { return existing }
        guard let task else { preconditionFailure("a slot has either a connection or a connect in progress") }
        do {
            let connection = try await task.value
            let closeNow = state.withLock { state -> Bool in
                if state.connecting[slot] == task { state.connecting[slot] = nil }
                if state.shutDown { return true }
                if state.connections[slot] !== connection { state.connections[slot] = connection }
                return false
            }
            if closeNow {
                await connection.close()
                throw StrataError(.redisUnavailable, "The Redis client is shut down.")
            }
            return connection
        } catch {
            state.withLock { state in
                if state.connecting[slot] == task { state.connecting[slot] = nil }
            }
            throw error
        }
    }
}

import Foundation
public import Logging
import StrataCore

#if canImport(Glibc)
import Glibc
#endif

/// A private `redis-server` that Strata starts and stops itself, like the embedded PostgreSQL.
///
/// It lives in one folder (by default `$STRATA_HOME/redis`): the append-only file and its
/// snapshots, `redis.log`, and the Unix socket `redis.sock` (mode 0700). It listens on
/// 127.0.0.1 on a port found free at start, with AOF on (`appendfsync everysec`). The same
/// lifeline as PostgreSQL stops it when Strata stops or dies, and an `flock` keeps a second
/// manager out. Before use, Strata checks that the server reports this folder as its `dir`.
public final class EmbeddedRedis: Sendable {
    /// Where and how the server runs.
    public struct Configuration: Sendable {
        public var directory: String
        /// Append-only persistence (on by default; test servers turn it off).
        public var appendOnly: Bool
        /// Deletes ``directory`` once the server has stopped (throw-away servers of test runs).
        public var removeWhenStopped: Bool
        public var startTimeout: Duration
        /// A password clients must give (`requirepass`, written to a 0600 config file in the
        /// folder, never on the command line); the server's ``EmbeddedRedis/url`` carries it.
        public var password: String?

        public init(
            directory: String,
            appendOnly: Bool = true,
            removeWhenStopped: Bool = false,
            startTimeout: Duration = .seconds(30),
            password: String? = nil
        ) {
            self.directory = directory
            self.appendOnly = appendOnly
            self.removeWhenStopped = removeWhenStopped
            self.startTimeout = startTimeout
            self.password = password
        }
    }

    /// How to reach the server (its Unix socket when the path fits, else TCP).
    public let url: RedisURL
    /// The loopback port.
    public let port: Int
    private let lifeline: Lifeline
    private let lock: FolderLock
    private let logger: Logger

    private init(url: RedisURL, port: Int, lifeline: Lifeline, lock: FolderLock, logger: Logger) {
        self.url = url
        self.port = port
        self.lifeline = lifeline
        self.lock = lock
        self.logger = logger
    }

    /// The `redis-server` program: on `PATH`, or in `/usr/bin`.
    /// - Throws: `dependency_missing` naming the package to install.
    public static func locateServer(environment: [String: String]? = nil) throws -> String {
        let path = (environment ?? ProcessInfo.processInfo.environment)["PATH"] ?? ""
        for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"] {
            let candidate = "\(directory)/redis-server"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw StrataError(
            .dependencyMissing,
            "redis-server not found; install it with: apt-get install -y redis-server",
            details: ["package": "redis-server"]
        )
    }

    /// Starts the server and waits until it answers.
    /// - Throws: `dependency_missing` or `server_start_failed` (with the end of the log).
    public static func start(_ configuration: Configuration, logger: Logger) async throws -> EmbeddedRedis {
        let program = try locateServer()
        let directory = configuration.directory
        try FileSystem.makeDirectory(directory, mode: 0o700, owner: nil)
        let lock = try FolderLock(folder: directory)
        do {
            for _ in 0..<5 {
                let port = try FileSystem.freeLoopbackPort()
                let socket = "\(directory)/redis.sock"
                let socketFits = socket.utf8.count < 108
                let logFile = "\(directory)/redis.log"
                var command = [program]
                if let password = configuration.password {
                    let file = "\(directory)/redis-auth.conf"
                    try FileSystem.writeSecret("requirepass \"\(password.replacingOccurrences(of: "\"", with: "\\\""))\"", to: file, owner: nil)
                    command.append(file)
                }
                command += [
                    "--port", "\(port)", "--bind", "127.0.0.1", "--protected-mode", "yes", "--dir", directory,
                    "--daemonize", "no", "--logfile", "", "--save", "", "--appendonly", configuration.appendOnly ? "yes" : "no",
                    "--appendfsync", "everysec",
                ]
                if socketFits { command += ["--unixsocket", socket, "--unixsocketperm", "700"] }
                let lifeline = try Lifeline(
                    command: command,
                    logFile: logFile,
                    removeWhenStopped: configuration.removeWhenStopped ? directory : nil
                )
                let url = RedisURL(
                    address: socketFits ? .unix(path: socket) : .tcp(host: "127.0.0.1", port: port),
                    password: configuration.password
                )
                let deadline = ContinuousClock.now + configuration.startTimeout
                var lastError: (any Error)?
                while ContinuousClock.now < deadline && lifeline.isRunning {
                    do {
                        let connection = try await RedisConnection.connect(to: url, connectTimeout: .milliseconds(200), logger: logger)
                        let reply = try await connection.send([Array("CONFIG".utf8), Array("GET".utf8), Array("dir".utf8)], timeout: .seconds(2))
                        // While it loads its append-only file Redis answers CONFIG but refuses data
                        // commands with LOADING: it is ready when PING says PONG.
                        let ping = try await connection.send([Array("PING".utf8)], timeout: .seconds(2))
                        await connection.close()
                        guard ping == .simpleString("PONG") else {
                            throw StrataError(.redisUnavailable, "Redis is still loading its data")
                        }
                        guard
                            Self.reportedDirectory(reply) == URL(fileURLWithPath: directory).resolvingSymlinksInPath().path
                                || Self.reportedDirectory(reply) == directory
                        else {
                            lifeline.release()
                            throw StrataError(.serverStartFailed, "The Redis server reached is not the embedded one (its dir differs)")
                        }
                        logger.info("embedded Redis started", metadata: ["strata.redis.port": "\(port)", "strata.redis.directory": "\(directory)"])
                        return EmbeddedRedis(url: url, port: port, lifeline: lifeline, lock: lock, logger: logger)
                    } catch let error as StrataError where error.code == .serverStartFailed {
                        throw error
                    } catch {
                        lastError = error
                        try await Task.sleep(for: .milliseconds(25))
                    }
                }
                let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
                lifeline.release()
                if log.contains("Address already in use") { continue }
                throw StrataError(
                    .serverStartFailed,
                    "redis-server did not start; the end of \(logFile):\n\(log.suffixLines(8))",
                    underlying: lastError
                )
            }
            throw StrataError(.serverStartFailed, "Could not find a free loopback port for Redis")
        } catch {
            lock.release()
            throw error
        }
    }

    private static func reportedDirectory(_ reply: RESPValue) -> String? {
        switch reply {
        case .array(let items) where items.count == 2: items[1].string
        case .map(let pairs): pairs.first?.value.string
        default: nil
        }
    }

    /// Stops the server (Redis saves its append-only file on the way out). Safe to call twice.
    public func stop() async {
        if await !lifeline.stop(within: .seconds(30)) { lifeline.terminate() }
        if lock.release() { logger.info("embedded Redis stopped") }
    }

    /// Whether the server is running.
    public var isRunning: Bool { lifeline.isRunning }
}

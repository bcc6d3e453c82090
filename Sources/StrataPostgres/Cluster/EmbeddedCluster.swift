import Foundation
public import Logging
import NIOPosix
public import PostgresNIO
public import StrataCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL cluster that Strata creates, starts and stops itself.
///
/// The cluster lives in one folder (``Configuration/directory``, by default
/// `$STRATA_HOME/postgres`): `data/` is the cluster, `server.log` its log, `password` the
/// generated password for TCP connections, and the Unix socket sits in the folder itself
/// (mode 0700). The server listens on `127.0.0.1` on a port found free at start; Strata
/// connects through the socket when its path fits, else over TCP with the password.
///
/// Lifetime: the server runs under a small shell whose standard input is a pipe from this
/// process. When the pipe closes — ``stop()`` or this process dying, even by `SIGKILL` — the
/// shell asks PostgreSQL for a fast shutdown. A second manager on the same folder is refused
/// (an exclusive `flock` on `manager.lock`), and an orphaned server or stale `postmaster.pid`
/// left by a crash is stopped or cleared before starting.
///
/// When this process runs as root, PostgreSQL runs as the `postgres` (or `nobody`) user, since
/// `initdb` and `postgres` refuse root.
public final class EmbeddedCluster: Sendable {
    /// Where and how the cluster runs.
    public struct Configuration: Sendable {
        /// The cluster's folder.
        public var directory: String
        /// `fsync` and synchronous commit on (the default); tests turn it off for speed.
        public var durable: Bool
        /// The database created on first start and named in ``EmbeddedCluster/url``.
        public var database: String
        /// Extra server settings passed as `-c name=value`.
        public var settings: [String: String]
        /// The longest wait for the server to accept connections.
        public var startTimeout: Duration
        /// Deletes ``directory`` once the server has stopped (throw-away clusters of test runs).
        public var removeWhenStopped: Bool
        /// Page checksums for a new cluster (on by default; an existing cluster keeps what it
        /// has until ``EmbeddedCluster/enableChecksums(directory:logger:)``).
        public var dataChecksums: Bool = true

        /// Creates a configuration.
        public init(
            directory: String,
            durable: Bool = true,
            database: String = "strata",
            settings: [String: String] = [:],
            startTimeout: Duration = .seconds(60),
            removeWhenStopped: Bool = false
        ) {
            self.removeWhenStopped = removeWhenStopped
            self.directory = directory
            self.durable = durable
            self.database = database
            self.settings = settings
            self.startTimeout = startTimeout
        }
    }

    /// How to reach the cluster's ``Configuration/database`` (the password is redacted when printed).
    public let url: DatabaseURL
    /// The loopback TCP port the server listens on.
    public let port: Int
    /// The process id of the PostgreSQL server (a new one after ``restart()``).
    public var serverPID: Int32 { process.withLock { $0.pid } }
    /// The configuration it was started with.
    public let configuration: Configuration
    /// The server programs used.
    public let binaries: PostgresBinaries
    /// The user the server runs as, when different from ours.
    let user: ChildProcess.User?
    /// The running server: its lifeline shell and its pid, replaced by ``restart()``.
    private let process: Mutex<(lifeline: Lifeline, pid: pid_t)>
    private var lifeline: Lifeline { process.withLock { $0.lifeline } }
    private let lock: FolderLock
    private let logger: Logger

    var dataDirectory: String { "\(configuration.directory)/data" }
    /// The server's log file.
    public var logFile: String { "\(configuration.directory)/server.log" }

    private init(
        url: DatabaseURL,
        port: Int,
        serverPID: pid_t,
        configuration: Configuration,
        binaries: PostgresBinaries,
        user: ChildProcess.User?,
        lifeline: Lifeline,
        lock: FolderLock,
        logger: Logger
    ) {
        self.url = url
        self.port = port
        self.process = Mutex((lifeline, serverPID))
        self.configuration = configuration
        self.binaries = binaries
        self.user = user
        self.lock = lock
        self.logger = logger
    }

    /// Creates the cluster on first use, starts it and waits until it accepts connections.
    /// - Throws: `dependency_missing` when PostgreSQL is not installed (naming the package);
    ///   `server_start_failed` with the end of the server log otherwise.
    public static func start(_ configuration: Configuration, logger: Logger) async throws -> EmbeddedCluster {
        let binaries = try PostgresBinaries.locate()
        let user = try ChildProcess.User.forServers()
        let directory = configuration.directory
        let dataDirectory = "\(directory)/data"
        try FileSystem.makeDirectory(directory, mode: 0o700, owner: user)
        let lock = try FolderLock(folder: directory)
        do {
            let password = try await initializeIfNeeded(configuration, binaries: binaries, user: user, logger: logger)
            try await recoverStaleServer(dataDirectory: dataDirectory, logger: logger)

            var lastError: (any Error)?
            for _ in 0..<5 {
                let port = try FileSystem.freeLoopbackPort()
                let socketFits = "\(directory)/.s.PGSQL.\(port)".utf8.count < 108
                do {
                    let (lifeline, pid) = try await launch(
                        configuration,
                        binaries: binaries,
                        user: user,
                        port: port,
                        socketDirectory: socketFits ? directory : nil
                    )
                    let url = DatabaseURL(
                        username: "postgres",
                        password: password,
                        host: socketFits ? nil : "127.0.0.1",
                        port: port,
                        socketDirectory: socketFits ? directory : nil,
                        database: configuration.database,
                        tls: .disable
                    )
                    let cluster = EmbeddedCluster(
                        url: url,
                        port: port,
                        serverPID: pid,
                        configuration: configuration,
                        binaries: binaries,
                        user: user,
                        lifeline: lifeline,
                        lock: lock,
                        logger: logger
                    )
                    do {
                        try await cluster.verifyAndCreateDatabase()
                    } catch {
                        await cluster.stop()
                        throw error
                    }
                    logger.info(
                        "embedded PostgreSQL started",
                        metadata: [
                            "strata.db.port": "\(port)", "strata.db.directory": "\(directory)", "strata.db.pid": "\(pid)",
                        ]
                    )
                    return cluster
                } catch let error as PortTaken {
                    lastError = error
                    logger.debug("port \(error.port) was taken; trying another")
                }
            }
            throw StrataError(.serverStartFailed, "Could not find a free loopback port for PostgreSQL", underlying: lastError)
        } catch {
            lock.release()  // does nothing when the cluster already released it
            throw error
        }
    }

    /// Stops the server (fast shutdown: open transactions roll back) and releases the folder.
    /// Safe to call more than once.
    public func stop() async {
        if await !lifeline.stop(within: .seconds(60)) {
            logger.warning("PostgreSQL did not stop within 60 s; sending SIGQUIT")
            kill(serverPID, SIGQUIT)
            lifeline.terminate()
        }
        if lock.release() { logger.info("embedded PostgreSQL stopped") }
    }

    /// Whether the server process is alive.
    public var isRunning: Bool {
        let (lifeline, pid) = process.withLock { ($0.lifeline, $0.pid) }
        return !lifeline.commandHasExited && Lifeline.isAlive(pid)
    }

    /// Starts the server again on the same port and socket after it died (killed, out of
    /// memory): the old lifeline is let go, and PostgreSQL's crash recovery replays the WAL.
    /// ``url`` stays valid, so pools reconnect on their own.
    /// - Throws: `server_start_failed` with the end of the server log, e.g. while the dead
    ///   server's backends still hold its shared memory (try again shortly).
    public func restart() async throws {
        guard !configuration.removeWhenStopped else {
            // Its lifeline deletes the folder once the old server is let go.
            throw StrataError(.serverStartFailed, "A throw-away cluster (removeWhenStopped) is not restarted.")
        }
        let old = lifeline
        _ = await old.stop(within: .seconds(10))
        try await Self.recoverStaleServer(dataDirectory: dataDirectory, logger: logger)
        let (lifeline, pid) = try await Self.launch(
            configuration,
            binaries: binaries,
            user: user,
            port: port,
            socketDirectory: url.socketDirectory
        )
        process.withLock { $0 = (lifeline, pid) }
        logger.notice("embedded PostgreSQL restarted", metadata: ["strata.db.pid": "\(pid)", "strata.db.port": "\(port)"])
    }

    /// The last `lines` lines of the server log.
    public func logTail(lines: Int) -> String {
        ((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "").suffixLines(lines)
    }

    // MARK: Start-up steps

    private static func initializeIfNeeded(
        _ configuration: Configuration,
        binaries: PostgresBinaries,
        user: ChildProcess.User?,
        logger: Logger
    ) async throws -> String? {
        let directory = configuration.directory
        let dataDirectory = "\(directory)/data"
        let passwordFile = "\(directory)/password"
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: "\(dataDirectory)/PG_VERSION") {
            return try? String(contentsOfFile: passwordFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // A data folder without PG_VERSION is what an interrupted initdb leaves: start over.
        if fileManager.fileExists(atPath: dataDirectory) { try fileManager.removeItem(atPath: dataDirectory) }
        let password = SecureRandom.hex(bytes: 24)
        try FileSystem.writeSecret(password, to: passwordFile, owner: user)
        logger.info("creating the embedded PostgreSQL cluster", metadata: ["strata.db.directory": "\(directory)"])
        var arguments = [
            "-D", dataDirectory, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
            "--pwfile=\(passwordFile)", "--encoding=UTF8", "--no-locale",
        ]
        // Page checksums: a torn or corrupted page is reported (pg_stat_database's
        // checksum_failures, pg_amcheck, backup tools) rather than read as data.
        if configuration.dataChecksums { arguments.append("--data-checksums") }
        if !configuration.durable { arguments.append("--no-sync") }
        _ = try await ChildProcess.run(binaries.path("initdb"), arguments, as: user)
        return password
    }

    /// Stops a server left running by a crashed manager, or removes its stale pid file.
    private static func recoverStaleServer(dataDirectory: String, logger: Logger) async throws {
        let pidFile = "\(dataDirectory)/postmaster.pid"
        guard let contents = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = contents.split(separator: "\n").first.flatMap({ pid_t($0.trimmingCharacters(in: .whitespaces)) })
        else { return }
        let cmdline = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
        if kill(pid, 0) == 0 && cmdline.contains("postgres") && cmdline.contains(dataDirectory) {
            // We hold the folder's lock, so no live manager owns this server: it is an orphan.
            logger.warning("stopping an orphaned PostgreSQL left by an earlier run", metadata: ["strata.db.pid": "\(pid)"])
            kill(pid, SIGINT)
            let deadline = ContinuousClock.now + .seconds(30)
            while kill(pid, 0) == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            if kill(pid, 0) == 0 { kill(pid, SIGQUIT) }
            while kill(pid, 0) == 0 { try await Task.sleep(for: .milliseconds(50)) }
        } else {
            logger.info("removing a stale postmaster.pid left by an earlier run")
        }
        try? FileManager.default.removeItem(atPath: pidFile)
    }

    private struct PortTaken: Error { var port: Int }

    private static func launch(
        _ configuration: Configuration,
        binaries: PostgresBinaries,
        user: ChildProcess.User?,
        port: Int,
        socketDirectory: String?
    ) async throws -> (Lifeline, pid_t) {
        let dataDirectory = "\(configuration.directory)/data"
        let logFile = "\(configuration.directory)/server.log"
        var settings = [
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": socketDirectory ?? "",
            "unix_socket_permissions": "0700",
        ]
        if !configuration.durable {
            settings["fsync"] = "off"
            settings["synchronous_commit"] = "off"
            settings["full_page_writes"] = "off"
        }
        settings.merge(configuration.settings) { _, new in new }
        var command = (user?.commandPrefix ?? []) + [binaries.path("postgres"), "-D", dataDirectory, "-p", "\(port)"]
        for (name, value) in settings.sorted(by: { $0.key < $1.key }) { command += ["-c", "\(name)=\(value)"] }

        let lifeline = try Lifeline(
            command: command,
            logFile: logFile,
            removeWhenStopped: configuration.removeWhenStopped ? configuration.directory : nil
        )
        let deadline = ContinuousClock.now + configuration.startTimeout
        while ContinuousClock.now < deadline {
            if !lifeline.isRunning || lifeline.commandHasExited {
                lifeline.release()
                let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
                let tail = log.suffixLines(12)
                if tail.contains("could not bind") || tail.contains("Address already in use") { throw PortTaken(port: port) }
                throw StrataError(.serverStartFailed, "PostgreSQL did not start; the end of \(logFile):\n\(tail)")
            }
            if let pid = readyServerPID(dataDirectory: dataDirectory, port: port), isDescendant(pid, of: lifeline.pid) {
                return (lifeline, pid)
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        lifeline.release()
        throw StrataError(.serverStartFailed, "PostgreSQL did not accept connections within \(configuration.startTimeout); see \(logFile)")
    }

    /// The server's pid once `postmaster.pid` reports it ready on our port.
    private static func readyServerPID(dataDirectory: String, port: Int) -> pid_t? {
        guard let status = PostmasterStatus(dataDirectory: dataDirectory), status.port == port, status.isReady else { return nil }
        return status.pid
    }

    /// Whether `pid` was started (within a few generations) by `ancestor`: the check that the
    /// server answering is the one we started, not another process's.
    private static func isDescendant(_ pid: pid_t, of ancestor: pid_t) -> Bool {
        var current = pid
        for _ in 0..<4 {
            guard let stat = try? String(contentsOfFile: "/proc/\(current)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, let parent = pid_t(fields[1]) else { return false }
            if parent == ancestor { return true }
            current = parent
        }
        return false
    }

    /// Confirms the server we reach is ours (same data directory), then creates the database.
    private func verifyAndCreateDatabase() async throws {
        let maintenance = url.with(database: "postgres")
        try await Self.withConnection(to: maintenance, logger: logger) { connection in
            let rows = try await connection.run("SELECT current_setting('data_directory')", logger: self.logger).collect()
            let reported = try rows.first?.decode(String.self) ?? ""
            let expected = URL(fileURLWithPath: self.dataDirectory).resolvingSymlinksInPath().path
            guard reported == expected || reported == self.dataDirectory else {
                throw StrataError(.serverStartFailed, "The server on port \(self.port) is not the embedded cluster (its data directory differs)")
            }
            let exists = try await connection.run(
                "SELECT 1 FROM pg_catalog.pg_database WHERE datname = \(self.configuration.database)",
                logger: self.logger
            ).collect()
            if exists.isEmpty {
                try await connection.run(
                    PostgresQuery(unsafeSQL: "CREATE DATABASE \(quoteIdentifier(self.configuration.database))"),
                    logger: self.logger
                )
            }
        }
    }

    /// Runs the closure on a single, unpooled connection.
    @discardableResult
    public static func withConnection<T>(
        to url: DatabaseURL,
        logger: Logger,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let configuration: PostgresConnection.Configuration =
            if let socket = url.socketPath {
                .init(unixSocketPath: socket, username: url.username, password: url.password, database: url.database)
            } else {
                .init(
                    host: url.host ?? "127.0.0.1",
                    port: url.port,
                    username: url.username,
                    password: url.password,
                    database: url.database,
                    tls: .disable
                )
            }
        let connection = try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(),
            configuration: configuration,
            id: 0,
            logger: logger
        )
        do {
            let result = try await body(connection)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

/// Quotes an identifier that comes from code (database, schema or role names), never from input.
public func quoteIdentifier(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

public import Foundation
public import StrataCore

/// pgBackRest, as Strata runs it: one stanza (`strata`) for the embedded cluster, configured
/// entirely by environment variables (`PGBACKREST_*`) and `--no-config`, so that no file under
/// `/etc` is read or needed; run as the user that runs PostgreSQL, who owns the repository.
///
/// The same settings reach the server's `archive_command` (``archiveCommand``), so that every
/// WAL segment PostgreSQL completes — or switches after `archive_timeout` — is pushed into the
/// repository that backups are taken into and restores read from.
public struct PgBackRest: Sendable {
    /// The stanza's name.
    public static let stanza = "strata"

    /// The `pgbackrest` program.
    public let program: String
    /// The repository, the data folder and where pgBackRest keeps its logs and locks.
    public let settings: BackupConfiguration.Physical
    /// How to reach the server: its port, and its socket folder (nil: loopback TCP with
    /// `password`).
    public let port: Int
    public let socketDirectory: String?
    let password: String?
    /// The user PostgreSQL runs as (nil: ourselves).
    let user: ChildProcess.User?

    /// Finds `pgbackrest` (on `PATH`, else `/usr/bin`).
    /// - Parameter url: The running server (nil: none; restores and `info` need none).
    /// - Throws: `dependency_missing` naming the Debian package when it is not installed.
    public init(settings: BackupConfiguration.Physical, url: DatabaseURL?) throws {
        guard let program = Self.installedProgram else {
            throw StrataError(
                .dependencyMissing,
                "pgBackRest is not installed; physical backups need it: apt-get install -y pgbackrest",
                details: ["package": "pgbackrest"]
            )
        }
        self.program = program
        self.settings = settings
        self.port = url?.port ?? 5432
        self.socketDirectory = url?.socketDirectory
        self.password = url?.password
        self.user = try ChildProcess.User.forServers()
    }

    /// Whether `pgbackrest` is installed.
    public static var isInstalled: Bool { installedProgram != nil }

    /// `pgbackrest` on `PATH`, else in `/usr/bin`.
    static var installedProgram: String? {
        let folders = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin"]
        return folders.map { "\($0)/pgbackrest" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The options every command gets, as pgBackRest's environment variables. Options a
    /// command does not take are ignored when they come from the environment (they are an
    /// error on the command line).
    public static func options(_ settings: BackupConfiguration.Physical, dataDirectory: String? = nil) -> [String: String] {
        [
            "PGBACKREST_STANZA": stanza,
            "PGBACKREST_REPO1_PATH": settings.repositoryPath,
            "PGBACKREST_PG1_PATH": dataDirectory ?? settings.dataDirectory,
            "PGBACKREST_PG1_USER": "postgres",
            "PGBACKREST_LOG_PATH": "\(settings.stateDirectory)/log",
            "PGBACKREST_LOCK_PATH": "\(settings.stateDirectory)/lock",
            "PGBACKREST_LOG_LEVEL_FILE": "info",
            "PGBACKREST_START_FAST": "y",
            "PGBACKREST_COMPRESS_TYPE": "zst",
            // Fulls are kept by age; pgBackRest expires them (and the backups depending on
            // them) after each backup. Incrementals and WAL are expired by Strata (`expire`).
            "PGBACKREST_REPO1_RETENTION_FULL_TYPE": "time",
            "PGBACKREST_REPO1_RETENTION_FULL": "\(settings.fullRetentionDays)",
        ]
    }

    /// The environment of a `pgbackrest` run: ours without any `PGBACKREST_*` or libpq
    /// variable of the caller's, plus ``options(_:dataDirectory:)`` and the connection.
    func environment(dataDirectory: String? = nil) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
        environment.merge(Self.options(settings, dataDirectory: dataDirectory)) { _, ours in ours }
        environment["PGBACKREST_PG1_PORT"] = "\(port)"
        if let socketDirectory {
            environment["PGBACKREST_PG1_SOCKET_PATH"] = socketDirectory
        } else {
            // No socket (its path was too long): libpq's own variables take pgBackRest over TCP.
            environment["PGHOST"] = "127.0.0.1"
            environment["PGPASSWORD"] = password
        }
        return environment
    }

    /// The server settings that archive every WAL segment into the repository: `archive_mode`,
    /// the `archive_command` (``archiveCommand(_:)``) and `archive_timeout`.
    public static func archiveSettings(_ settings: BackupConfiguration.Physical) -> [String: String] {
        [
            "archive_mode": "on",
            "archive_command": archiveCommand(settings),
            "archive_timeout": "\(settings.archiveTimeoutSeconds)s",
            "wal_level": "replica",
        ]
    }

    /// `PGBACKREST_…='…' pgbackrest --no-config archive-push %p`: the variables single-quoted
    /// for the shell PostgreSQL runs it with, and any `%` in them doubled for PostgreSQL.
    public static func archiveCommand(_ settings: BackupConfiguration.Physical, program: String = "pgbackrest") -> String {
        (assignments(options(settings)) + [escaped(program), "--no-config", "archive-push", "%p"]).joined(separator: " ")
    }

    /// `restore_command` for a restored copy: `archive-get` from the same repository.
    static func restoreCommand(_ settings: BackupConfiguration.Physical, program: String, dataDirectory: String) -> String {
        (assignments(options(settings, dataDirectory: dataDirectory)) + [escaped(program), "--no-config", "archive-get", "%f", "\"%p\""])
            .joined(separator: " ")
    }

    private static func assignments(_ options: [String: String]) -> [String] {
        options.sorted { $0.key < $1.key }.map { "\($0.key)=\(escaped($0.value))" }
    }

    /// Single-quoted for the shell, `%` doubled for PostgreSQL's placeholders.
    private static func escaped(_ text: String) -> String { shellQuoted(text).replacingOccurrences(of: "%", with: "%%") }

    static func shellQuoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'" }

    /// Makes the repository and state folders (owned by the server's user) and the stanza;
    /// running it again on a ready stanza changes nothing.
    /// - Throws: `backup_failed` with pgBackRest's message.
    public func prepareStanza() async throws {
        for folder in [settings.repositoryPath, settings.stateDirectory, "\(settings.stateDirectory)/log", "\(settings.stateDirectory)/lock"] {
            try FileManager.default.createDirectory(atPath: (folder as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileSystem.makeDirectory(folder, mode: 0o700, owner: user)
        }
        _ = try await run(["stanza-create"])
    }

    /// Runs `pgbackrest --no-config <arguments>` to completion as the server's user, with
    /// Strata's settings (what `strata bench backup` runs directly as its peer).
    /// - Parameter dataDirectory: The data folder, when not the embedded cluster's (a restore target).
    /// - Throws: `backup_failed` with its error lines.
    @discardableResult
    public func run(_ arguments: [String], dataDirectory: String? = nil) async throws -> String {
        do {
            return try await ChildProcess.run(program, ["--no-config"] + arguments, environment: environment(dataDirectory: dataDirectory), as: user)
        } catch let error as StrataError {
            throw StrataError(.backupFailed, "pgbackrest \(arguments.first ?? ""): \(error.message)")
        }
    }

    /// Runs a command, handing each line it prints to `line` as it comes.
    /// - Returns: Its exit status and the last lines it printed.
    func stream(_ arguments: [String], line: @Sendable (String) -> Void) async throws -> (status: Int32, tail: [String]) {
        let command = (user?.commandPrefix ?? []) + [program, "--no-config"] + arguments
        let process = try CommandProcess.start(command, input: "", environment: environment())
        var tail: [String] = []
        for await printed in process.lines {
            line(printed.text)
            tail.append(printed.text)
            if tail.count > 40 { tail.removeFirst(tail.count - 40) }
        }
        return (await process.exitCode(), tail)
    }

    /// `pgbackrest info --output=json` of the stanza.
    func info() async throws -> Info {
        let output = try await run(["info", "--output=json"])
        let stanzas: [Info]
        do {
            stanzas = try JSONDecoder.api().decode([Info].self, from: Data(output.utf8))
        } catch {
            throw StrataError(.backupFailed, "pgbackrest info printed what Strata could not read: \(output.suffixLines(3))")
        }
        guard let info = stanzas.first(where: { $0.name == Self.stanza }) else {
            throw StrataError(.notFound, "The pgBackRest repository \(settings.repositoryPath) has no stanza \(Self.stanza).")
        }
        return info
    }

    /// The stanza as `pgbackrest info --output=json` describes it.
    struct Info: Decodable, Sendable {
        var name: String
        var backup: [BackupSet]
        var archive: [Archive]

        struct Archive: Decodable, Sendable {
            var id: String
            var min: String?
            var max: String?
        }

        struct BackupSet: Decodable, Sendable {
            var label: String
            var type: String
            var error: Bool?
            var prior: String?
            /// Every backup this one needs (its chain back to its full).
            var reference: [String]?
            /// The pgBackRest that took it.
            var backrest: Tool?
            var timestamp: Span<Int64>
            var lsn: Span<String>?
            var archive: Span<String>?
            var info: Sizes

            struct Tool: Decodable, Sendable {
                var version: String
            }

            struct Span<T: Decodable & Sendable>: Decodable, Sendable {
                var start: T
                var stop: T
            }

            struct Sizes: Decodable, Sendable {
                var size: Int64
                var delta: Int64
                var repository: Repository

                struct Repository: Decodable, Sendable {
                    var size: Int64
                    var delta: Int64
                }
            }
        }
    }
}

public import Foundation
public import Logging
public import StrataCore

#if canImport(Glibc)
import Glibc
#endif

/// Restores from the pgBackRest repository, to the end of the archive or to a point in time:
/// side by side into a new folder on a free port (the running cluster is never touched), or in
/// place of the embedded cluster's data folder (kept aside, never deleted). Needs no running
/// database: it is what is used when there is none.
///
/// A copy runs detached (`pg_ctl`) until ``stop(id:keep:)``; each is a folder of
/// ``BackupConfiguration/Physical/restoresDirectory`` holding `data/`, `server.log` and
/// `copy.json`. Recovery promotes only when it reaches its target: a target past the archived
/// WAL ends in PostgreSQL's own `FATAL`, which is reported, and the copy is removed.
public struct PhysicalRestore: Sendable {
    let settings: BackupConfiguration.Physical
    let tool: PgBackRest
    let logger: Logger

    /// - Throws: `invalid_configuration` against an external `DATABASE_URL`;
    ///   `dependency_missing` when pgBackRest is not installed.
    public init(configuration: BackupConfiguration, logger: Logger) throws {
        guard let settings = configuration.physical else {
            throw StrataError(
                .invalidConfiguration,
                "Physical restores are of the embedded cluster; with DATABASE_URL set, restore a logical backup (--logical FILE --into DB)."
            )
        }
        self.settings = settings
        self.tool = try PgBackRest(settings: settings, url: nil)
        self.logger = logger
    }

    /// Where recovery stops.
    public enum Target: Sendable, Equatable, CustomStringConvertible {
        /// The end of the archived WAL.
        case latest
        /// The last transaction committed at or before a time.
        case time(Date)
        /// A WAL location (`0/3000028`).
        case lsn(String)
        /// A restore point made with `pg_create_restore_point(name)`.
        case restorePoint(String)

        public var description: String {
            switch self {
            case .latest: "latest"
            case .time(let date): "time \(date.formatted(.iso8601))"
            case .lsn(let lsn): "lsn \(lsn)"
            case .restorePoint(let name): "restore point \(name)"
            }
        }

        /// pgBackRest's `--type` and `--target`.
        var arguments: [String] {
            switch self {
            case .latest: return []
            case .time(let date):
                let formatter = DateFormatter()
                formatter.locale = Locale(identifier: "en_US_POSIX")
                formatter.timeZone = TimeZone(identifier: "UTC")
                formatter.dateFormat = "yyyy-MM-dd HH:mm:ss.SSSSSS"
                return ["--type=time", "--target=\(formatter.string(from: date))+00"]
            case .lsn(let lsn): return ["--type=lsn", "--target=\(lsn)"]
            case .restorePoint(let name): return ["--type=name", "--target=\(name)"]
            }
        }
    }

    /// A restored copy running beside the live cluster.
    public struct Copy: Sendable, Codable, Equatable {
        public var id: String
        public var folder: String
        public var port: Int
        /// How to connect: TCP on loopback with the cluster's password.
        public var url: String
        public var target: String
        public var backupSet: String?
        public var restoredAt: Date
        public var seconds: Double
    }

    // MARK: Side by side

    /// Restores into a new folder and starts the copy on a free port, waiting until recovery has
    /// reached `target` and the copy is promoted.
    /// - Parameter set: The backup to start from (default: pgBackRest picks the newest one
    ///   before the target).
    /// - Throws: `backup_failed` with pgBackRest's or PostgreSQL's message; nothing is left behind.
    public func restoreSideBySide(to target: Target, set: String? = nil, database: String = "strata") async throws -> Copy {
        let candidates = try await backupSets(for: target, chosen: set)
        for (index, candidate) in candidates.enumerated() {
            do {
                return try await restoreSideBySide(to: target, from: candidate, database: database)
            } catch let error as StrataError where index < candidates.count - 1 && error.message.contains(Self.targetNotReached) {
                // A restore point is found only by replaying: try the backup before this one.
                logger.info("the target is not after this backup; trying the one before", metadata: ["strata.backup.label": "\(candidate)"])
            }
        }
        throw StrataError(.internalError, "No backup to restore from.")
    }

    /// PostgreSQL's words when the archived WAL ends before the target.
    static let targetNotReached = "recovery ended before configured recovery target was reached"

    /// The backups to restore from, in the order to try them: the one named; for a time or an
    /// LSN the newest that ended before it; for a restore point every one, newest first.
    /// - Throws: `not_found` when the repository holds no backup; `invalid_value` when the
    ///   target is before the end of the oldest backup.
    func backupSets(for target: Target, chosen: String?) async throws -> [String] {
        let sets = try await tool.info().backup
        if let chosen {
            guard sets.contains(where: { $0.label == chosen }) else {
                throw StrataError(.notFound, "No backup \(chosen) in the repository.", details: ["field": "set"])
            }
            return [chosen]
        }
        guard let newest = sets.last else {
            throw StrataError(.notFound, "The repository \(settings.repositoryPath) holds no backup yet: take one with strata backup create.")
        }
        func before(_ reachable: (PgBackRest.Info.BackupSet) -> Bool, _ what: String) throws -> [String] {
            guard let set = sets.last(where: reachable) else {
                throw StrataError(
                    .invalidValue,
                    "\(what) is before the end of the oldest backup (\(sets[0].label)); nothing can be restored to it.",
                    details: ["field": "target"]
                )
            }
            return [set.label]
        }
        switch target {
        case .latest: return [newest.label]
        case .time(let date): return try before({ TimeInterval($0.timestamp.stop) <= date.timeIntervalSince1970 }, "\(target)")
        case .lsn(let lsn):
            let goal = Self.lsnValue(lsn) ?? 0
            return try before({ ($0.lsn?.stop).flatMap(Self.lsnValue) ?? .max <= goal }, "\(target)")
        case .restorePoint: return sets.reversed().map(\.label)
        }
    }

    /// `16/B374D848` as a number.
    static func lsnValue(_ text: String) -> UInt64? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let high = UInt64(parts[0], radix: 16), let low = UInt64(parts[1], radix: 16) else { return nil }
        return high << 32 | low
    }

    private func restoreSideBySide(to target: Target, from set: String, database: String) async throws -> Copy {
        let started = ContinuousClock.now
        let id = freshID()
        let folder = "\(settings.restoresDirectory)/\(id)"
        try FileManager.default.createDirectory(atPath: settings.restoresDirectory, withIntermediateDirectories: true)
        try FileSystem.makeDirectory(folder, mode: 0o700, owner: tool.user)
        let data = "\(folder)/data"
        do {
            try await pgBackRestRestore(into: data, target: target, set: set, archiving: false)
            let port = try FileSystem.freeLoopbackPort()
            let socketFits = "\(folder)/.s.PGSQL.\(port)".utf8.count < 100
            try writeSettings(
                [
                    "port": "\(port)", "listen_addresses": "127.0.0.1", "unix_socket_directories": socketFits ? folder : "",
                    "unix_socket_permissions": "0700", "archive_mode": "off",
                ],
                to: data
            )
            try await startDetached(data: data, log: "\(folder)/server.log")
            let password = (try? String(contentsOfFile: "\(settings.clusterDirectory)/password", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let url = DatabaseURL(username: "postgres", password: password, host: "127.0.0.1", port: port, database: database, tls: .disable)
            let copy = Copy(
                id: id,
                folder: folder,
                port: port,
                url: url.revealedURL,
                target: target.description,
                backupSet: set,
                restoredAt: Date(),
                seconds: (ContinuousClock.now - started).secondsDouble
            )
            try JSONEncoder.api(pretty: true).encode(copy).write(to: URL(fileURLWithPath: "\(folder)/copy.json"))
            return copy
        } catch {
            _ = try? await ChildProcess.run(try binaries().path("pg_ctl"), ["stop", "-D", data, "-m", "immediate", "-s"], as: tool.user)
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        }
    }

    /// The restored copies, oldest first.
    public func copies() -> [Copy] {
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: settings.restoresDirectory)) ?? []
        return folders.sorted().compactMap { name in
            guard let data = FileManager.default.contents(atPath: "\(settings.restoresDirectory)/\(name)/copy.json") else { return nil }
            return try? JSONDecoder.api().decode(Copy.self, from: data)
        }
    }

    /// Stops a restored copy and removes its folder (unless `keep`).
    /// - Throws: `not_found` for an unknown id.
    public func stop(id: String, keep: Bool = false) async throws {
        guard !id.contains("/"), !id.hasPrefix("."), FileManager.default.fileExists(atPath: "\(settings.restoresDirectory)/\(id)/data") else {
            throw StrataError(.notFound, "No restored copy \(id) (see `strata backup restore --list`).", details: ["field": "stop"])
        }
        let data = "\(settings.restoresDirectory)/\(id)/data"
        if FileManager.default.fileExists(atPath: "\(data)/postmaster.pid") {
            _ = try await ChildProcess.run(try binaries().path("pg_ctl"), ["stop", "-D", data, "-m", "fast", "-s", "-t", "120"], as: tool.user)
        }
        if !keep { try FileManager.default.removeItem(atPath: "\(settings.restoresDirectory)/\(id)") }
    }

    // MARK: In place

    /// Replaces the embedded cluster's data folder with a restore (the old one is renamed
    /// `data.before-restore-<time>`, never deleted). The cluster must not be running: the
    /// caller holds its folder (``FolderLock``), and a server left running there is stopped.
    /// Start the cluster afterwards: it recovers to `target`, promotes and archives on a new
    /// timeline.
    /// - Returns: The folder the old data was moved to (nil: there was none).
    public func restoreInPlace(to target: Target, set: String? = nil) async throws -> String? {
        let data = settings.dataDirectory
        let set = try await backupSets(for: target, chosen: set).first
        let fileManager = FileManager.default
        if let pid = PostmasterStatus(dataDirectory: data)?.pid, kill(pid, 0) == 0 {
            logger.notice("stopping the PostgreSQL server running on the data folder before restoring over it")
            _ = try? await ChildProcess.run(try binaries().path("pg_ctl"), ["stop", "-D", data, "-m", "fast", "-s", "-t", "120"], as: tool.user)
        }
        var keptAside: String?
        if fileManager.fileExists(atPath: data) {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyyMMdd-HHmmss"
            let aside = "\(settings.clusterDirectory)/data.before-restore-\(formatter.string(from: Date()))"
            try fileManager.moveItem(atPath: data, toPath: aside)
            keptAside = aside
        }
        do {
            try FileSystem.makeDirectory(data, mode: 0o700, owner: tool.user)
            try await pgBackRestRestore(into: data, target: target, set: set, archiving: true)
        } catch {
            try? fileManager.removeItem(atPath: data)
            if let keptAside { try? fileManager.moveItem(atPath: keptAside, toPath: data) }
            throw error
        }
        return keptAside
    }

    // MARK: Steps

    private func pgBackRestRestore(into data: String, target: Target, set: String?, archiving: Bool) async throws {
        var arguments = ["restore", "--pg1-path=\(data)"] + target.arguments
        if target != .latest { arguments.append("--target-action=promote") }
        if !archiving { arguments.append("--archive-mode=off") }
        if let set { arguments.append("--set=\(set)") }
        try await tool.run(arguments, dataDirectory: data)
        // pgBackRest writes a restore_command that names no repository (it does not quote the
        // variables ours carries): replace it with one that does. Without hot standby, the
        // server says `ready` only once promoted (with it, as soon as it accepts reads).
        try writeSettings(
            ["restore_command": PgBackRest.restoreCommand(settings, program: tool.program, dataDirectory: data), "hot_standby": "off"],
            to: data
        )
    }

    /// Sets settings in the restored `postgresql.auto.conf` (replacing any line of the same
    /// name pgBackRest wrote); the live cluster's own settings come from its command line.
    private func writeSettings(_ settings: [String: String], to data: String) throws {
        let path = "\(data)/postgresql.auto.conf"
        let existing = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        var text = existing.split(separator: "\n", omittingEmptySubsequences: false).filter { line in
            !settings.keys.contains { line.hasPrefix("\($0) =") }
        }.joined(separator: "\n")
        text += "\n# Set by strata backup restore\n"
        for (name, value) in settings.sorted(by: { $0.key < $1.key }) {
            text += "\(name) = '\(value.replacingOccurrences(of: "'", with: "''"))'\n"
        }
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }

    /// Starts the copy with `pg_ctl` (it outlives this process) and waits until it is promoted
    /// (`postmaster.pid` says `ready`), or fails with the server's `FATAL` when it stopped.
    private func startDetached(data: String, log: String) async throws {
        let pgCtl = try binaries().path("pg_ctl")
        do {
            _ = try await ChildProcess.run(pgCtl, ["start", "-D", data, "-l", log, "-w", "-t", "3600", "-s"], as: tool.user)
        } catch {
            throw StrataError(.backupFailed, "The restored copy did not start: \(Self.fatalLines(log))")
        }
        let deadline = ContinuousClock.now + .seconds(3600)
        while ContinuousClock.now < deadline {
            let status = PostmasterStatus(dataDirectory: data)
            if status?.isReady == true { return }
            if status.map({ kill($0.pid, 0) != 0 }) ?? true {
                throw StrataError(.backupFailed, "Recovery did not reach its target, and nothing was promoted: \(Self.fatalLines(log))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw StrataError(.backupFailed, "The restored copy was not promoted within an hour; see \(log)")
    }

    /// The server log's `FATAL` lines (PostgreSQL's own words for why recovery stopped).
    static func fatalLines(_ log: String) -> String {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let fatal = text.split(separator: "\n").filter { $0.contains("FATAL") || $0.contains("PANIC") }
        return fatal.isEmpty ? text.suffixLines(5) : fatal.suffix(3).joined(separator: "\n")
    }

    private func binaries() throws -> PostgresBinaries { try PostgresBinaries.locate() }

    private func freshID() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let stem = "restore-\(formatter.string(from: Date()))"
        var id = stem
        var suffix = 2
        while FileManager.default.fileExists(atPath: "\(settings.restoresDirectory)/\(id)") {
            id = "\(stem)-\(suffix)"
            suffix += 1
        }
        return id
    }
}

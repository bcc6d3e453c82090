import Foundation
public import Logging
import StrataCore

extension EmbeddedCluster {
    /// Turns page checksums on for the stopped cluster in `directory` (`pg_checksums
    /// --enable`: offline, it rewrites every page; clusters made before checksums were the
    /// default have none). Nothing is done when they are on already.
    /// - Returns: Whether they were turned on now (false: they were on).
    /// - Throws: `not_found` when `directory` holds no cluster; `server_start_failed` when a
    ///   Strata process runs it (stop `strata serve` first) or `pg_checksums` fails (its
    ///   message: for instance a cluster that was not shut down cleanly).
    @discardableResult
    public static func enableChecksums(directory: String, logger: Logger) async throws -> Bool {
        let dataDirectory = "\(directory)/data"
        guard FileManager.default.fileExists(atPath: "\(dataDirectory)/PG_VERSION") else {
            throw StrataError(.notFound, "No embedded PostgreSQL cluster in \(directory).")
        }
        // Held by a running `strata serve` (or another command): refused with its message.
        let lock = try FolderLock(folder: directory)
        defer { lock.release() }
        let binaries = try PostgresBinaries.locate()
        let user = try ChildProcess.User.forServers()
        let control = try await ChildProcess.run(try binaries.tool("pg_controldata"), [dataDirectory], as: user)
        // "Data page checksum version:           0" (0: off)
        let version = control.split(separator: "\n").first { $0.hasPrefix("Data page checksum version:") }?.split(separator: " ").last
        guard version == "0" else { return false }
        logger.info("enabling page checksums (rewrites every page)", metadata: ["strata.db.directory": "\(directory)"])
        _ = try await ChildProcess.run(try binaries.tool("pg_checksums"), ["--enable", "--pgdata=\(dataDirectory)"], as: user)
        return true
    }
}

import Foundation
public import StrataCore

#if canImport(Glibc)
import Glibc
#endif

extension EmbeddedCluster {
    /// How to reach the cluster in `configuration.directory` when another Strata process (a
    /// running `strata serve`) manages it, or `nil` when no manager holds it.
    ///
    /// The manager's `flock` proves the server belongs to this Strata home; the port and
    /// socket come from the server's own `postmaster.pid`.
    /// - Throws: `server_start_failed` when a manager holds the folder but its server is not ready.
    public static func runningInstance(_ configuration: Configuration) throws -> DatabaseURL? {
        let directory = configuration.directory
        let lockPath = "\(directory)/manager.lock"
        guard FileManager.default.fileExists(atPath: lockPath) else { return nil }
        let descriptor = open(lockPath, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        // A lock that looks held while no server runs may be a child being spawned by another
        // thread, holding a copy of the descriptor until its exec (see
        // `FileSystem.lockExclusively`): look again for up to a second before calling it a manager.
        var status: PostmasterStatus?
        for attempt in 0..<50 {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 {
                flock(descriptor, LOCK_UN)
                return nil
            }
            status = PostmasterStatus(dataDirectory: "\(directory)/data")
            if status != nil || attempt == 49 { break }
            usleep(20_000)
        }
        guard let status else {
            throw StrataError(.serverStartFailed, "A Strata process manages \(directory) but its PostgreSQL is not running")
        }
        guard status.isReady, let port = status.port else {
            throw StrataError(.serverStartFailed, "The embedded PostgreSQL in \(directory) is starting or stopping; try again shortly")
        }
        let socketDirectory = status.socketDirectory
        let password = try? String(contentsOfFile: "\(directory)/password", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return DatabaseURL(
            username: "postgres",
            password: password,
            host: socketDirectory == nil ? "127.0.0.1" : nil,
            port: port,
            socketDirectory: socketDirectory,
            database: configuration.database,
            tls: .disable
        )
    }
}

import Foundation
import StrataCore

#if canImport(Glibc)
import Glibc
#endif

/// Runs programs with arguments as an array (never through a shell command line), optionally
/// as another, unprivileged user.
enum ChildProcess {
    /// The user a server process runs as.
    struct User: Sendable, Equatable {
        var name: String
        var uid: uid_t
        var gid: gid_t

        /// The user to run servers as: ourselves, or when we are root (servers such as
        /// PostgreSQL refuse root), the `postgres` system user, else `nobody`.
        static func forServers() throws -> User? {
            guard geteuid() == 0 else { return nil }
            for name in ["postgres", "nobody"] {
                if let entry = getpwnam(name) {
                    return User(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
                }
            }
            throw StrataError(
                .dependencyMissing,
                "Running as root but no unprivileged user (postgres or nobody) exists to run the database server",
                details: ["package": "postgresql"]
            )
        }

        /// The argument prefix that runs a program as this user.
        var commandPrefix: [String] {
            ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--"]
        }
    }

    /// Runs a program to completion and returns its standard output.
    /// - Throws: When the program cannot start or exits non-zero (with its output).
    static func output(of program: String, _ arguments: [String], as user: User? = nil) throws -> String {
        let process = Process()
        let command = (user?.commandPrefix ?? []) + [program] + arguments
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            let errorLines = text.split(separator: "\n").filter { $0.contains("error") || $0.contains("FATAL") }
            var reason = errorLines.isEmpty ? text.suffixLines(5) : errorLines.suffix(5).joined(separator: "\n")
            if let user, reason.contains("Permission denied") {
                reason += " (the \(user.name) user runs the database and must be able to reach this folder; choose a STRATA_HOME it can enter)"
            }
            throw StrataError(
                .serverStartFailed,
                "\((program as NSString).lastPathComponent) exited with status \(process.terminationStatus): \(reason)"
            )
        }
        return text
    }

    /// Runs a program to completion off the cooperative thread pool.
    static func run(_ program: String, _ arguments: [String], as user: User? = nil) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try output(of: program, arguments, as: user) })
            }
        }
    }
}

extension String {
    /// The last `count` lines, for error messages quoting a log.
    func suffixLines(_ count: Int) -> String {
        split(separator: "\n", omittingEmptySubsequences: true).suffix(count).joined(separator: "\n")
    }
}

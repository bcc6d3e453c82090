import Foundation
public import StrataCore

/// `pg_dump` and `pg_restore`: the newest installed, checked against the server's major version.
public struct DumpTools: Sendable {
    public let pgDump: String
    public let pgRestore: String
    /// `pg_amcheck` beside them, when installed.
    public let pgAmcheck: String?
    /// `pg_dump --version`'s number (`15.18`).
    public let version: String
    public let major: Int

    /// Finds the tools in `directory` when given, else in the newest
    /// `/usr/lib/postgresql/<major>/bin`, else on `PATH`.
    /// - Throws: `dependency_missing` when none is installed, or when the one found is older
    ///   than the server (a dump needs a `pg_dump` at least as new as the server).
    public static func locate(in directory: String?, serverMajor: Int, versionedRoot: String = "/usr/lib/postgresql") throws -> DumpTools {
        let fileManager = FileManager.default
        var candidates: [String] = []
        if let directory {
            candidates = [directory]
        } else {
            let majors = ((try? fileManager.contentsOfDirectory(atPath: versionedRoot)) ?? []).compactMap(Int.init).sorted(by: >)
            candidates = majors.map { "\(versionedRoot)/\($0)/bin" }
            candidates += (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        }
        guard
            let folder = candidates.first(where: {
                fileManager.isExecutableFile(atPath: "\($0)/pg_dump") && fileManager.isExecutableFile(atPath: "\($0)/pg_restore")
            })
        else {
            throw StrataError(
                .dependencyMissing,
                "pg_dump and pg_restore were not found\(directory.map { " in \($0)" } ?? ""); install them with: apt-get install -y postgresql-client-\(serverMajor)",
                details: ["package": "postgresql-client-\(serverMajor)"]
            )
        }
        let output = (try? ChildProcess.output(of: "\(folder)/pg_dump", ["--version"])) ?? ""
        // "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
        guard let word = output.split(separator: " ").first(where: { $0.first?.isNumber == true }),
            let major = Int(word.split(separator: ".")[0])
        else {
            throw StrataError(.dependencyMissing, "Could not read the version of \(folder)/pg_dump from: \(output.suffixLines(2))")
        }
        guard major >= serverMajor else {
            throw StrataError(
                .dependencyMissing,
                "\(folder)/pg_dump is version \(word), older than the server (PostgreSQL \(serverMajor)): it cannot dump it reliably. Install a newer one with: apt-get install -y postgresql-client-\(serverMajor)",
                details: ["package": "postgresql-client-\(serverMajor)"]
            )
        }
        let amcheck = "\(folder)/pg_amcheck"
        return DumpTools(
            pgDump: "\(folder)/pg_dump",
            pgRestore: "\(folder)/pg_restore",
            pgAmcheck: fileManager.isExecutableFile(atPath: amcheck) ? amcheck : nil,
            version: String(word),
            major: major
        )
    }

    /// Runs `pg_amcheck --install-missing --heapallindexed` on the database `url` names.
    /// - Returns: The problem to report (its failure, or that it is not installed); nil when clean.
    public func amcheck(_ url: DatabaseURL) async -> String? {
        guard let pgAmcheck else { return "pg_amcheck is not installed beside pg_restore" }
        do {
            _ = try await ChildProcess.run(
                pgAmcheck,
                ["--install-missing", "--heapallindexed", "--no-password", url.database],
                environment: Self.libpqEnvironment(url)
            )
            return nil
        } catch {
            return "pg_amcheck: \((error as? StrataError)?.message ?? "\(error)")"
        }
    }

    /// The process environment with libpq's connection variables set from `url` (and any
    /// other `PG*` variable removed): the password reaches the tool here, not on its command line.
    public static func libpqEnvironment(_ url: DatabaseURL) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
        environment["PGHOST"] = url.socketDirectory ?? url.host ?? "127.0.0.1"
        environment["PGPORT"] = "\(url.port)"
        environment["PGUSER"] = url.username
        environment["PGDATABASE"] = url.database
        environment["PGSSLMODE"] = url.tls.rawValue
        environment["PGAPPNAME"] = "strata-backup"
        environment["PGCONNECT_TIMEOUT"] = "10"
        if let password = url.password { environment["PGPASSWORD"] = password }
        return environment
    }
}

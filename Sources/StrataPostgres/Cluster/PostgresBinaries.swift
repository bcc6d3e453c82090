import Foundation
import StrataCore

/// Where the PostgreSQL server programs (`initdb`, `postgres`, `pg_dump` …) are installed.
public struct PostgresBinaries: Sendable, Equatable {
    /// The folder holding `initdb` and `postgres`.
    public let directory: String

    /// The full path of one program in ``directory``.
    public func path(_ program: String) -> String { "\(directory)/\(program)" }

    /// A server tool (`pg_controldata`, `pg_checksums` …): in ``directory``, else in the
    /// `/usr/lib/postgresql/<major>/bin` of the server's major version.
    /// - Throws: `dependency_missing` naming the program.
    public func tool(_ program: String, versionedRoot: String = "/usr/lib/postgresql") throws -> String {
        if FileManager.default.isExecutableFile(atPath: path(program)) { return path(program) }
        let versioned = "\(versionedRoot)/\(try majorVersion())/bin/\(program)"
        guard FileManager.default.isExecutableFile(atPath: versioned) else {
            throw StrataError(
                .dependencyMissing,
                "\(program) was not found in \(directory) or \(versioned); install it with: apt-get install -y postgresql"
            )
        }
        return versioned
    }

    /// Finds the server programs: on `PATH`, through `pg_config --bindir`, then the newest
    /// `/usr/lib/postgresql/<major>/bin`.
    /// - Throws: `dependency_missing` with the package to install.
    /// - Parameters:
    ///   - environment: Where `PATH` is read (default: the process environment).
    ///   - pgConfigCandidates: `pg_config` programs to ask.
    ///   - versionedRoot: The folder holding `<major>/bin`.
    public static func locate(
        environment: [String: String]? = nil,
        pgConfigCandidates: [String] = ["/usr/bin/pg_config", "/usr/local/bin/pg_config"],
        versionedRoot: String = "/usr/lib/postgresql"
    ) throws -> PostgresBinaries {
        let environment = environment ?? ProcessInfo.processInfo.environment
        let fileManager = FileManager.default
        func hasServer(_ directory: String) -> Bool {
            fileManager.isExecutableFile(atPath: "\(directory)/initdb") && fileManager.isExecutableFile(atPath: "\(directory)/postgres")
        }
        for directory in (environment["PATH"] ?? "").split(separator: ":").map(String.init) where hasServer(directory) {
            return PostgresBinaries(directory: directory)
        }
        for candidate in pgConfigCandidates where fileManager.isExecutableFile(atPath: candidate) {
            if let output = try? ChildProcess.output(of: candidate, ["--bindir"]) {
                let directory = output.trimmingCharacters(in: .whitespacesAndNewlines)
                if hasServer(directory) { return PostgresBinaries(directory: directory) }
            }
        }
        let root = versionedRoot
        let majors = ((try? fileManager.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init)
            .sorted(by: >)
        for major in majors where hasServer("\(root)/\(major)/bin") {
            return PostgresBinaries(directory: "\(root)/\(major)/bin")
        }
        throw StrataError(
            .dependencyMissing,
            "PostgreSQL server programs (initdb, postgres) not found; install them with: apt-get install -y postgresql",
            details: ["package": "postgresql"]
        )
    }

    /// The major version of the installed server, from `postgres --version`.
    public func majorVersion() throws -> Int {
        let output = try ChildProcess.output(of: path("postgres"), ["--version"])
        // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
        guard let word = output.split(separator: " ").first(where: { $0.first?.isNumber == true }),
            let major = Int(word.split(separator: ".")[0])
        else {
            throw StrataError(.dependencyMissing, "Could not read the PostgreSQL version from: \(output)")
        }
        return major
    }
}

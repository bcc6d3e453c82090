import Crypto
public import Foundation
import StrataCore

/// One migration file: `Migrations/<module>/NNNN_name.sql`.
///
/// Files are immutable once applied: the ledger keeps the SHA-256 of the file with line
/// endings normalised to LF, and an edited file is refused by name. A file whose first line is
/// `-- strata:no-transaction` runs statement by statement outside a transaction (for
/// `CREATE INDEX CONCURRENTLY`); it is recorded as `failed` until it completes, and a re-run
/// runs it again, so write such files to be re-runnable (`DROP INDEX CONCURRENTLY IF EXISTS`
/// first).
public struct Migration: Sendable, Equatable {
    /// The module (migration line) it belongs to.
    public let module: String
    /// The number in the file name.
    public let version: Int
    /// The name part of the file name.
    public let name: String
    /// The file's text.
    public let sql: String
    /// SHA-256 of the LF-normalised text, lowercase hex.
    public let checksum: String
    /// Whether the file runs in one transaction together with its ledger row.
    public let isTransactional: Bool

    /// The directive that opts a file out of the transaction.
    public static let noTransactionDirective = "-- strata:no-transaction"

    /// Creates a migration from its text.
    public init(module: String, version: Int, name: String, sql: String) {
        self.module = module
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = Self.checksum(of: sql)
        let firstLine = sql.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        self.isTransactional = !firstLine.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix(Self.noTransactionDirective)
    }

    /// `module/NNNN_name.sql`, how errors and reports name the file.
    public var fileName: String { "\(module)/\(String(format: "%04d", version))_\(name).sql" }

    /// SHA-256 of the text with CRLF and CR line endings turned into LF.
    public static func checksum(of sql: String) -> String {
        let normalised = sql.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        return Hex.encode(SHA256.hash(data: Data(normalised.utf8)))
    }
}

/// The ordered migrations of one module, applied as one history.
public struct MigrationLine: Sendable, Equatable {
    /// The module's name, also the key in the ledger (`strata`, `helpdesk` …).
    public let module: String
    /// The migrations in version order.
    public let migrations: [Migration]

    /// Creates a line from migrations.
    /// - Throws: `migration_invalid` when two migrations share a version.
    public init(module: String, migrations: [Migration]) throws {
        let sorted = migrations.sorted { $0.version < $1.version }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.version == next.version {
            throw StrataError(.migrationInvalid, "\(previous.fileName) and \(next.fileName) have the same number")
        }
        self.module = module
        self.migrations = sorted
    }

    /// Loads every `NNNN_name.sql` file of a folder.
    /// - Throws: `migration_invalid` for a file not named `NNNN_name.sql` (digits, then
    ///   lowercase letters, digits and underscores) or unreadable.
    public init(module: String, directory: URL) throws {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw StrataError(.migrationInvalid, "Cannot read the migrations of \(module) at \(directory.path)", underlying: error)
        }
        var migrations: [Migration] = []
        for file in files.sorted() where !file.hasPrefix(".") {
            guard let (version, name) = Self.parse(fileName: file) else {
                throw StrataError(.migrationInvalid, "\(module)/\(file) is not named NNNN_name.sql (lowercase name, digits, underscores)")
            }
            let sql: String
            do {
                sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            } catch {
                throw StrataError(.migrationInvalid, "Cannot read \(module)/\(file) as UTF-8", underlying: error)
            }
            migrations.append(Migration(module: module, version: version, name: name, sql: sql))
        }
        try self.init(module: module, migrations: migrations)
    }

    static func parse(fileName: String) -> (Int, String)? {
        guard fileName.hasSuffix(".sql") else { return nil }
        let stem = fileName.dropLast(4)
        guard let underscore = stem.firstIndex(of: "_") else { return nil }
        let number = stem[..<underscore]
        let name = stem[stem.index(after: underscore)...]
        guard number.count >= 4, number.allSatisfy(\.isASCII), number.allSatisfy(\.isNumber), let version = Int(number), version > 0,
            !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") })
        else { return nil }
        return (version, String(name))
    }
}

extension MigrationLine {
    /// The platform's own line (`strata` schema: the ledger and shared tables).
    public static func platform() throws -> MigrationLine {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil)?.appendingPathComponent("strata") else {
            throw StrataError(.migrationInvalid, "The platform's migration files are missing from the StrataPostgres resources")
        }
        return try MigrationLine(module: "strata", directory: directory)
    }
}

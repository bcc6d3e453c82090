public import Foundation
public import StrataCore

/// A row of `strata.schema_migrations`.
public struct LedgerRow: Sendable, Equatable {
    public var module: String
    public var version: Int
    public var name: String
    public var checksum: String
    /// `applied`, or `failed` for a no-transaction file that did not complete.
    public var state: String
    public var appliedAt: Date
    public var durationMilliseconds: Int

    public init(
        module: String,
        version: Int,
        name: String,
        checksum: String,
        state: String = "applied",
        appliedAt: Date = Date(),
        durationMilliseconds: Int = 0
    ) {
        self.module = module
        self.version = version
        self.name = name
        self.checksum = checksum
        self.state = state
        self.appliedAt = appliedAt
        self.durationMilliseconds = durationMilliseconds
    }
}

/// Where one migration stands against the ledger.
public struct MigrationStatus: Sendable, Equatable {
    /// The state of one migration.
    public enum State: String, Sendable {
        /// Applied, and the file is unchanged.
        case applied
        /// Not applied yet.
        case pending
        /// A no-transaction file that started and did not complete; the next run repeats it.
        case failed
        /// Applied, but the file changed since (refused until `repair`).
        case checksumMismatch = "checksum_mismatch"
        /// Pending, but numbered below an applied migration of its line (refused by default).
        case outOfOrder = "out_of_order"
        /// In the ledger but not among this build's files (the database is newer).
        case unknown
    }

    public var module: String
    public var version: Int
    public var name: String
    public var state: State
    public var appliedAt: Date?
    public var durationMilliseconds: Int?

    /// `module/NNNN_name.sql`.
    public var fileName: String { "\(module)/\(String(format: "%04d", version))_\(name).sql" }
}

extension MigrationStatus {
    /// The status of a ledger row whose file this build does not have (the database is newer).
    init(unknownToThisBuild row: LedgerRow) {
        self.init(
            module: row.module,
            version: row.version,
            name: row.name,
            state: .unknown,
            appliedAt: row.appliedAt,
            durationMilliseconds: row.durationMilliseconds
        )
    }
}

/// Compares the migration files with the ledger. Pure: no database access.
public struct MigrationAnalysis: Sendable, Equatable {
    /// Every file and every ledger row, by line then version.
    public let entries: [MigrationStatus]
    /// The migrations a run would apply, in order (pending and failed).
    public let toApply: [Migration]

    /// Analyses `lines` against `ledger`.
    /// - Parameter allowOutOfOrder: Treat pending files numbered below applied ones as plain pending.
    public init(lines: [MigrationLine], ledger: [LedgerRow], allowOutOfOrder: Bool = false) {
        var entries: [MigrationStatus] = []
        var toApply: [Migration] = []
        for line in lines {
            let rows = Dictionary(ledger.filter { $0.module == line.module }.map { ($0.version, $0) }, uniquingKeysWith: { a, _ in a })
            let highestApplied = rows.values.filter { $0.state == "applied" }.map(\.version).max() ?? 0
            let known = Set(line.migrations.map(\.version))
            for migration in line.migrations {
                var status = MigrationStatus(
                    module: line.module,
                    version: migration.version,
                    name: migration.name,
                    state: .pending
                )
                if let row = rows[migration.version] {
                    status.appliedAt = row.appliedAt
                    status.durationMilliseconds = row.durationMilliseconds
                    if row.state == "failed" {
                        status.state = .failed
                        toApply.append(migration)
                    } else if row.checksum != migration.checksum {
                        status.state = .checksumMismatch
                    } else {
                        status.state = .applied
                    }
                } else if migration.version < highestApplied && !allowOutOfOrder {
                    status.state = .outOfOrder
                } else {
                    toApply.append(migration)
                }
                entries.append(status)
            }
            for row in rows.values.sorted(by: { $0.version < $1.version }) where !known.contains(row.version) {
                entries.append(MigrationStatus(unknownToThisBuild: row))
            }
        }
        // Lines in the ledger that this build does not have at all.
        let lineNames = Set(lines.map(\.module))
        for row in ledger.sorted(by: { ($0.module, $0.version) < ($1.module, $1.version) }) where !lineNames.contains(row.module) {
            entries.append(MigrationStatus(unknownToThisBuild: row))
        }
        self.entries = entries
        self.toApply = toApply
    }

    /// Problems that stop a run: edited applied files and out-of-order pending files.
    public var blockingErrors: [StrataError] {
        entries.compactMap { entry in
            switch entry.state {
            case .checksumMismatch:
                StrataError(
                    .migrationChecksumMismatch,
                    "\(entry.fileName) was changed after it was applied; restore the file, or accept the change with `strata migrate repair`",
                    details: ["file": entry.fileName]
                )
            case .outOfOrder:
                StrataError(
                    .migrationOutOfOrder,
                    "\(entry.fileName) is pending but numbered below a migration already applied; renumber it after the latest one",
                    details: ["file": entry.fileName]
                )
            default:
                nil
            }
        }
    }

    /// Whether every file is applied and unchanged (the database may hold newer, unknown ones).
    public var isCurrent: Bool {
        entries.allSatisfy { $0.state == .applied || $0.state == .unknown }
    }
}

public import Foundation
import Logging
import StrataCore

/// What a restore drill found, logical or physical: the backup restored into a copy, every
/// table of the copy compared row for row with the reference (row count and ordered checksum,
/// ``TableChecksum``), `pg_amcheck` run on the copy; recorded in `strata.backup_drills`.
public struct BackupDrill: Sendable {
    /// The drill's row in `strata.backup_drills`.
    public var id: Int64
    /// The backup restored.
    public var backup: BackupRecord
    /// Whether every table equals the reference and `pg_amcheck` found nothing.
    public var passed: Bool
    /// Tables compared with the reference.
    public var tablesCompared: Int
    /// Tables that differ from it (or are missing from, or extra to, the copy).
    public var differing: [String]
    /// What else went wrong (the restore, `pg_amcheck`, a missing reference).
    public var problems: [String]
    /// How long the restore took.
    public var restoreSeconds: Double?

    /// Records a drill's outcome in `strata.backup_drills` against `backup` (an error is
    /// logged when it failed) and returns it: what both kinds of drill end with.
    static func record(
        of backup: BackupRecord,
        startedAt: Date,
        compared: Int,
        differing: [String],
        problems: [String],
        restoreSeconds: Double?,
        details extra: [String: JSONValue] = [:],
        store: BackupStore,
        logger: Logger
    ) async throws -> BackupDrill {
        let passed = problems.isEmpty && differing.isEmpty
        var details = extra
        details["differing"] = .array(differing.map { .string($0) })
        details["problems"] = .array(problems.map { .string($0) })
        let id = try await store.recordDrill(
            backup.id,
            startedAt: startedAt,
            passed: passed,
            compared: compared,
            differing: differing.count,
            restoreSeconds: restoreSeconds,
            details: .object(details)
        )
        if !passed {
            logger.error(
                "backup drill failed",
                metadata: [
                    "strata.backup.id": "\(backup.id)", "strata.backup.label": "\(backup.label ?? "")",
                    "strata.backup.differing": "\(differing)", "strata.backup.problems": "\(problems)",
                ]
            )
        }
        return BackupDrill(
            id: id,
            backup: try await store.record(backup.id),
            passed: passed,
            tablesCompared: compared,
            differing: differing,
            problems: problems,
            restoreSeconds: restoreSeconds
        )
    }

    /// The tables whose count or checksum differ between `expected` and `found`, or that only
    /// one of them has.
    public static func differing(expected: [TableChecksum], found: [TableChecksum]) -> [String] {
        let expected = Dictionary(expected.map { ($0.table, $0) }, uniquingKeysWith: { first, _ in first })
        let actual = Dictionary(found.map { ($0.table, $0) }, uniquingKeysWith: { first, _ in first })
        return Set(expected.keys).union(actual.keys).filter { key in
            guard let wanted = expected[key], let seen = actual[key] else { return true }
            return !wanted.matches(seen)
        }.sorted()
    }
}

public import Foundation
import PostgresNIO
import StrataCore

/// Where backups stand, from `strata.backups`, `strata.backup_verifications` and
/// `strata.backup_drills`: the newest successful backup, verification and drill, and the
/// failures of the last week. `/metrics` exports it at every scrape; the platform's hourly
/// watch logs an error for every ``problems(configuration:now:)``.
public struct BackupStatus: Sendable, Equatable {
    /// When the newest successful logical backup finished.
    public var lastLogicalBackup: Date?
    /// When the newest verification ran, and whether it passed.
    public var lastVerification: Date?
    public var lastVerificationPassed: Bool?
    /// When the newest drill ran, and whether it passed.
    public var lastDrill: Date?
    public var lastDrillPassed: Bool?
    /// Backups that failed in the last 7 days.
    public var failedThisWeek: Int
    /// When the newest physical full backup, and the newest physical backup of any type, finished.
    public var lastFullBackup: Date? = nil
    public var lastPhysicalBackup: Date? = nil
    /// When the server last archived a WAL segment, and last failed to (`pg_stat_archiver`).
    public var lastArchivedWAL: Date? = nil
    public var lastArchiveFailure: Date? = nil

    /// Reads it in one statement.
    public static func collect(from pool: PostgresPool) async throws -> BackupStatus {
        let row = try await pool.query(
            """
            SELECT (SELECT max(finished_at) FROM strata.backups WHERE kind = 'logical' AND status IN ('succeeded', 'expired')),
                   v.verified_at, v.passed, d.started_at, d.passed,
                   (SELECT count(*)::int FROM strata.backups WHERE status = 'failed' AND started_at > now() - interval '7 days'),
                   (SELECT max(finished_at) FROM strata.backups WHERE kind = 'full' AND status = 'succeeded'),
                   (SELECT max(finished_at) FROM strata.backups WHERE kind IN ('full', 'diff', 'incr') AND status = 'succeeded'),
                   a.last_archived_time, a.last_failed_time
            FROM (SELECT 1) AS one
            CROSS JOIN pg_stat_archiver AS a
            LEFT JOIN LATERAL (SELECT verified_at, passed FROM strata.backup_verifications ORDER BY verified_at DESC, id DESC LIMIT 1) AS v ON true
            LEFT JOIN LATERAL (SELECT started_at, passed FROM strata.backup_drills ORDER BY started_at DESC, id DESC LIMIT 1) AS d ON true
            """
        ).first
        guard let row else { return BackupStatus(failedThisWeek: 0) }
        let (backup, verified, verifiedPassed, drilled, drillPassed, failed, full, physical, archived, archiveFailed) = try row.decode(
            (Date?, Date?, Bool?, Date?, Bool?, Int, Date?, Date?, Date?, Date?).self
        )
        return BackupStatus(
            lastLogicalBackup: backup,
            lastVerification: verified,
            lastVerificationPassed: verifiedPassed,
            lastDrill: drilled,
            lastDrillPassed: drillPassed,
            failedThisWeek: failed,
            lastFullBackup: full,
            lastPhysicalBackup: physical,
            lastArchivedWAL: archived,
            lastArchiveFailure: archiveFailed
        )
    }

    /// What is overdue or failed against the policy: the newest backup older than twice the
    /// interval, the newest drill older than twice its interval (or none long after the first
    /// backup), the last verification or drill failed, a backup failed
    /// this week.
    public func problems(configuration: BackupConfiguration, now: Date = Date()) -> [String] {
        var problems: [String] = []
        // None at all yet is a fresh install (the first scheduled one is on its way); one that
        // keeps failing is counted below.
        if let overdue = configuration.overdueBackup(finishedAt: lastLogicalBackup, now: now) { problems.append(overdue) }
        let drillAllowed = TimeInterval(configuration.drillIntervalDays * 2 * 86_400)
        if let last = lastDrill {
            if now.timeIntervalSince(last) > drillAllowed {
                problems.append(
                    "the newest restore drill is \(Int(now.timeIntervalSince(last) / 86_400)) days old; the policy allows \(configuration.drillIntervalDays * 2)"
                )
            }
        } else if let first = lastLogicalBackup, now.timeIntervalSince(first) > drillAllowed {
            problems.append("no restore drill has run")
        }
        if lastVerificationPassed == false { problems.append("the last verification failed") }
        if lastDrillPassed == false { problems.append("the last restore drill failed") }
        if failedThisWeek > 0 { problems.append("\(failedThisWeek) backup(s) failed in the last 7 days") }
        if let physical = configuration.physical, lastPhysicalBackup != nil {
            for (kind, finished) in [("full", lastFullBackup), ("incr", lastPhysicalBackup)] {
                if let complaint = physical.overdue(kind: kind, finishedAt: finished, now: now) { problems.append(complaint) }
            }
        }
        if let failure = lastArchiveFailure, failure > (lastArchivedWAL ?? .distantPast) {
            problems.append("WAL archiving is failing (last failure \(failure.formatted(.iso8601))); see the server log")
        }
        return problems
    }

    /// The Prometheus text: timestamps (Unix seconds; absent when never), pass/fail as 1/0.
    public func prometheusText(now: Date = Date()) -> String {
        func sample(_ name: String, _ help: String, _ value: Double?) -> String {
            guard let value else { return "" }
            return "# HELP \(name) \(help)\n# TYPE \(name) gauge\n\(name) \(value)\n"
        }
        func bit(_ value: Bool?) -> Double? { value.map { $0 ? 1 : 0 } }
        return sample(
            "strata_backup_last_success_timestamp_seconds",
            "When the newest successful logical backup finished (Unix time).",
            lastLogicalBackup?.timeIntervalSince1970
        )
            + sample(
                "strata_backup_last_success_age_seconds",
                "Seconds since the newest successful logical backup finished.",
                lastLogicalBackup.map { now.timeIntervalSince($0) }
            )
            + sample(
                "strata_backup_last_verification_timestamp_seconds",
                "When the newest backup verification ran (Unix time).",
                lastVerification?.timeIntervalSince1970
            )
            + sample(
                "strata_backup_last_verification_passed",
                "Whether the newest backup verification passed (1) or failed (0).",
                bit(lastVerificationPassed)
            )
            + sample("strata_backup_last_drill_timestamp_seconds", "When the newest restore drill ran (Unix time).", lastDrill?.timeIntervalSince1970)
            + sample("strata_backup_last_drill_passed", "Whether the newest restore drill passed (1) or failed (0).", bit(lastDrillPassed))
            + sample("strata_backup_failed_last_week", "Backups that failed in the last 7 days.", Double(failedThisWeek))
            + sample(
                "strata_backup_last_full_age_seconds",
                "Seconds since the newest physical full backup finished.",
                lastFullBackup.map { now.timeIntervalSince($0) }
            )
            + sample(
                "strata_backup_last_incremental_age_seconds",
                "Seconds since the newest physical backup (full, diff or incr) finished.",
                lastPhysicalBackup.map { now.timeIntervalSince($0) }
            )
            + sample(
                "strata_backup_last_archived_wal_age_seconds",
                "Seconds since the server last archived a WAL segment.",
                lastArchivedWAL.map { now.timeIntervalSince($0) }
            )
            + sample(
                "strata_backup_wal_archiving_failing",
                "Whether the last WAL archiving attempt failed (1) or not (0).",
                lastArchivedWAL == nil && lastArchiveFailure == nil
                    ? nil : bit((lastArchiveFailure ?? .distantPast) > (lastArchivedWAL ?? .distantPast))
            )
    }
}

import Foundation
import PostgresNIO
import StrataCore
public import StrataPostgres

/// Pruning of executions, as the established engines do it (`EXECUTIONS_DATA_MAX_AGE`,
/// `EXECUTIONS_DATA_PRUNE_MAX_COUNT`): ended executions past the maximum age, or beyond the
/// maximum count (newest kept), are soft-deleted (`logical_deletion`, hidden from the API at
/// once), then hard-deleted with their data in batches once the buffer has passed. Running,
/// waiting and new executions are never touched, and pinned ones are exempt. The statistics do
/// not change: they are kept in rollups when an execution ends. Runs hourly on the platform
/// queue (queue `workflows.maintenance`); `strata workflows prune --dry-run` shows what it would do.
public struct ExecutionPruning: Sendable {
    /// The queue of the app's maintenance jobs.
    public static let queue = "workflows.maintenance"
    static let kind = "workflows.executions.prune"

    /// What is kept.
    public struct Policy: Sendable, Equatable {
        /// Ended executions older than this (by their end) are pruned.
        public var maxAge: Duration
        /// At most this many ended executions are kept (the newest); `nil`: no count limit.
        public var maxCount: Int?
        /// How long a soft-deleted execution waits before it is deleted for good.
        public var hardDeleteBuffer: Duration

        public init(maxAge: Duration = .seconds(14 * 86_400), maxCount: Int? = 10_000, hardDeleteBuffer: Duration = .seconds(3_600)) {
            self.maxAge = maxAge
            self.maxCount = maxCount
            self.hardDeleteBuffer = hardDeleteBuffer
        }
    }

    /// What a pass did, or would do.
    public struct Report: Sendable, Equatable, Codable {
        /// Ended executions soft-deleted (or that would be).
        public var softDeleted: Int
        /// Soft-deleted executions deleted for good (or that would be).
        public var hardDeleted: Int

        enum CodingKeys: String, CodingKey {
            case softDeleted = "soft_deleted"
            case hardDeleted = "hard_deleted"
        }
    }

    let pool: PostgresPool
    let policy: Policy

    public init(pool: PostgresPool, policy: Policy) {
        self.pool = pool
        self.policy = policy
    }

    /// The hourly job.
    public var schedule: JobSchedule {
        JobSchedule(name: Self.kind, every: .seconds(3_600), job: NewJob(queue: Self.queue, kind: Self.kind, priority: 3))
    }

    /// The job's handler.
    public var handler: JobHandler {
        { _ in
            let report = try await prune()
            return #"{"soft_deleted":\#(report.softDeleted),"hard_deleted":\#(report.hardDeleted)}"#
        }
    }

    /// The executions a pass soft-deletes: ended, not pinned, not yet deleted, and past the age
    /// or beyond the count.
    private var prunable: String {
        let ageMilliseconds = policy.maxAge.milliseconds
        let count =
            policy.maxCount.map {
                """
                OR id IN (SELECT id FROM workflows.execution_entity
                          WHERE logical_deletion IS NULL AND status IN (97, 98, 99, 100) AND NOT pinned
                          ORDER BY finished_at DESC, id DESC OFFSET \($0))
                """
            } ?? ""
        return """
            SELECT id FROM workflows.execution_entity
            WHERE logical_deletion IS NULL AND status IN (97, 98, 99, 100) AND NOT pinned
              AND (finished_at < now() - \(ageMilliseconds) * interval '1 millisecond' \(count))
            """
    }

    private var expired: String {
        "SELECT id FROM workflows.execution_entity WHERE logical_deletion < now() - \(policy.hardDeleteBuffer.milliseconds) * interval '1 millisecond'"
    }

    /// What a pass would do now, writing nothing.
    public func dryRun() async throws -> Report {
        let rows = try await pool.query(
            PostgresQuery(unsafeSQL: "SELECT (SELECT count(*) FROM (\(prunable)) AS p), (SELECT count(*) FROM (\(expired)) AS e)")
        )
        guard let row = rows.first else { return Report(softDeleted: 0, hardDeleted: 0) }
        let (soft, hard) = try row.decode((Int64, Int64).self)
        return Report(softDeleted: Int(soft), hardDeleted: Int(hard))
    }

    /// Soft-deletes what the policy prunes, then deletes for good, in batches of 1,000, what was
    /// soft-deleted before the buffer.
    public func prune() async throws -> Report {
        let soft = try await Batches.drain(size: 1000) {
            Int(
                try await pool.query(
                    PostgresQuery(
                        unsafeSQL: """
                            WITH batch AS (\(prunable) LIMIT 1000 FOR UPDATE SKIP LOCKED),
                            done AS (UPDATE workflows.execution_entity AS e SET logical_deletion = now() FROM batch WHERE e.id = batch.id RETURNING 1)
                            SELECT count(*) FROM done
                            """
                    )
                ).first?.decode(Int64.self) ?? 0
            )
        }
        let hard = try await Batches.drain(size: 1000) {
            Int(
                try await pool.query(
                    PostgresQuery(
                        unsafeSQL: """
                            WITH batch AS (\(expired) LIMIT 1000 FOR UPDATE SKIP LOCKED),
                            done AS (DELETE FROM workflows.execution_entity AS e USING batch WHERE e.id = batch.id RETURNING 1)
                            SELECT count(*) FROM done
                            """
                    )
                ).first?.decode(Int64.self) ?? 0
            )
        }
        return Report(softDeleted: soft, hardDeleted: hard)
    }
}

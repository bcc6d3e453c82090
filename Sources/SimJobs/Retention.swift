import Foundation
import PostgresNIO
import StrataCore
public import StrataObjects
public import StrataPostgres

/// The seed's retention table, run daily on the platform queue (queue `simjobs.maintenance`):
/// results older than 180 days lose their data and answer "expired" (410) from then on — the
/// task itself is kept forever; uploaded structures past their `expires_at` (180 days after
/// upload) are deleted, and their tasks keep the denormalised structure name
/// (`ON DELETE SET NULL`); built-in structures are kept. Task logs and system logs are kept
/// (monthly partitions), alerts are dropped after 12 months by the partition maintainer.
public enum SimJobsRetention {
    public static let queue = "simjobs.maintenance"
    /// How long results are kept.
    public static let resultDays = 180

    /// Handlers by kind; each works in batches of 1,000 rows, one transaction each.
    public static func handlers(pool: PostgresPool, objects: any ObjectStore) -> [String: JobHandler] {
        [
            "simjobs.results.expire": { _ in
                let expired = try await expireResults(pool: pool)
                if expired > 0 {
                    await SystemLog(pool: pool).record(
                        "INFO",
                        .scheduler,
                        "Retention: \(expired) results older than \(resultDays) days expired.",
                        loggerName: "simjobs.retention"
                    )
                }
                return #"{"expired":\#(expired)}"#
            },
            "simjobs.structures.expire": { _ in
                let removed = try await removeExpiredStructures(pool: pool, objects: objects)
                if removed > 0 {
                    await SystemLog(pool: pool).record(
                        "INFO",
                        .scheduler,
                        "Retention: \(removed) expired uploaded structures removed.",
                        loggerName: "simjobs.retention"
                    )
                }
                return #"{"removed":\#(removed)}"#
            },
        ]
    }

    /// Daily, at low priority.
    public static let schedules: [JobSchedule] = ["simjobs.results.expire", "simjobs.structures.expire"].map { kind in
        JobSchedule(name: kind, every: .seconds(86_400), job: NewJob(queue: queue, kind: kind, priority: 3))
    }

    /// Clears the data of results older than ``resultDays`` and marks them expired.
    /// - Returns: How many results expired.
    @discardableResult
    public static func expireResults(pool: PostgresPool) async throws -> Int {
        try await inBatches(pool) {
            """
            WITH old AS (
                SELECT task_id FROM simjobs.task_results
                WHERE expired_at IS NULL AND created_at < now() - \(resultDays) * interval '1 day'
                LIMIT 1000 FOR UPDATE SKIP LOCKED
            ), done AS (
                UPDATE simjobs.task_results AS r
                SET result_data = '{}', output_files = '[]', metrics = '{}', expired_at = now()
                FROM old WHERE r.task_id = old.task_id
                RETURNING 1
            )
            SELECT count(*) FROM done
            """
        }
    }

    /// Deletes uploaded structures past their expiry, then their files (a row goes before its
    /// file, so no row points at a missing file; a file whose removal fails is logged).
    /// - Returns: How many were deleted.
    @discardableResult
    public static func removeExpiredStructures(pool: PostgresPool, objects: any ObjectStore) async throws -> Int {
        let service = StructureService(pool: pool, objects: objects)
        return try await Batches.drain(size: 1000) {
            let keys = try await service.store.deleteExpired(limit: 1000)
            await service.removeObjects(keys)
            return keys.count
        }
    }

    /// Runs a counting statement (batches of 1,000) until it counts fewer.
    private static func inBatches(_ pool: PostgresPool, _ statement: () -> PostgresQuery) async throws -> Int {
        try await Batches.drain(size: 1000) { Int(try await pool.query(statement()).first?.decode(Int64.self) ?? 0) }
    }
}

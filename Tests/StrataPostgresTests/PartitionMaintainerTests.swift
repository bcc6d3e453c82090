import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

@Suite struct PartitionMaintainerTests {
    let auditLog = PartitionedTable(schema: "strata", table: "audit_log", column: "occurred_at")

    func date(_ text: String) -> Date { try! Date(text + "T12:00:00Z", strategy: .iso8601) }

    @Test func namesAndIntervalsAreUTCMonthsOrDays() {
        #expect(auditLog.partitionName(startingAt: auditLog.intervalStart(containing: date("2026-12-31"))) == "audit_log_p2026_12")
        #expect(
            auditLog.intervalStart(1, after: auditLog.intervalStart(containing: date("2026-12-31")))
                == date("2027-01-01").addingTimeInterval(-12 * 3600)
        )
        #expect(auditLog.intervalStart(ofPartition: "audit_log_p2027_02") == date("2027-02-01").addingTimeInterval(-12 * 3600))
        #expect(auditLog.intervalStart(ofPartition: "audit_log_default") == nil)
        let daily = PartitionedTable(schema: "s", table: "t", column: "at", interval: .day)
        #expect(daily.partitionName(startingAt: daily.intervalStart(containing: date("2026-03-09"))) == "t_p2026_03_09")
    }

    @Test(.timeLimit(.minutes(1)))
    func maintainingCreatesTheMonthsAheadAndEmptiesTheDefaultPartition() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            let now = date("2026-11-22")
            // Rows written before any partition existed landed in the default partition.
            for month in ["2026-09-15", "2026-11-02"] {
                try await pool.query(
                    "INSERT INTO strata.audit_log (occurred_at, app, action, resource_type) VALUES (\(date(month)), 'strata', 'test', 'row')"
                )
            }
            let maintainer = PartitionMaintainer(tables: [auditLog], pool: pool, logger: TestPostgres.logger)
            let before = try #require(try await maintainer.status(now: now).first)
            #expect(before.defaultRows == 2)
            #expect(before.missing == ["audit_log_p2026_11", "audit_log_p2026_12", "audit_log_p2027_01", "audit_log_p2027_02"])

            let report = try #require(try await maintainer.maintain(now: now).first)
            #expect(report.created == ["audit_log_p2026_09", "audit_log_p2026_11", "audit_log_p2026_12", "audit_log_p2027_01", "audit_log_p2027_02"])
            #expect(report.movedRows == 2)
            let after = try #require(try await maintainer.status(now: now).first)
            #expect(after.defaultRows == 0 && after.missing.isEmpty && after.expired.isEmpty)
            #expect(after.partitions.map(\.name).contains("audit_log_default"))
            let rows = try await pool.query("SELECT tableoid::regclass::text FROM strata.audit_log ORDER BY occurred_at")
            #expect(try rows.map { try $0.decode(String.self) } == ["strata.audit_log_p2026_09", "strata.audit_log_p2026_11"])

            // A second pass (or a second server) finds nothing to do.
            let again = try #require(try await maintainer.maintain(now: now).first)
            #expect(again.created.isEmpty && again.movedRows == 0)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func retentionRemovesOnlyWhatTheDeclarationSays() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            try await pool.withConnection { connection in
                try await connection.run(
                    "CREATE TABLE strata.samples (at timestamptz NOT NULL, v int) PARTITION BY RANGE (at)",
                    logger: pool.statementLogger
                )
                try await connection.run("CREATE TABLE strata.samples_default PARTITION OF strata.samples DEFAULT", logger: pool.statementLogger)
            }
            var table = PartitionedTable(schema: "strata", table: "samples", column: "at")
            let past = PartitionMaintainer(tables: [table], pool: pool, logger: TestPostgres.logger)
            _ = try await past.maintain(now: date("2026-01-10"))  // Jan-Apr 2026

            // Keep (the default): nothing expires.
            let keep = PartitionMaintainer(tables: [table], pool: pool, logger: TestPostgres.logger)
            #expect(try await keep.status(now: date("2026-06-10")).first?.expired == [])

            table.retention = .drop(after: 3)  // June: keep March, April, May
            let dropping = PartitionMaintainer(tables: [table], pool: pool, logger: TestPostgres.logger)
            #expect(try await dropping.status(now: date("2026-06-10")).first?.expired == ["samples_p2026_01", "samples_p2026_02"])
            let report = try #require(try await dropping.maintain(now: date("2026-06-10")).first)
            #expect(report.dropped == ["samples_p2026_01", "samples_p2026_02"])
            let names = try #require(try await dropping.status(now: date("2026-06-10")).first).partitions.map(\.name)
            #expect(!names.contains("samples_p2026_01") && names.contains("samples_p2026_03"))

            table.retention = .detach(after: 3)  // July: April goes, detached but kept as a table
            let detaching = PartitionMaintainer(tables: [table], pool: pool, logger: TestPostgres.logger)
            #expect(try #require(try await detaching.maintain(now: date("2026-07-10")).first).detached == ["samples_p2026_03"])
            #expect(try await pool.query("SELECT to_regclass('strata.samples_p2026_03') IS NOT NULL").first?.decode(Bool.self) == true)
        }
    }
}

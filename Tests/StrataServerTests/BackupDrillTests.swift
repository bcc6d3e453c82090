import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataServer
import StrataTestSupport
import Testing

/// A physical backup of a database holding every app's tables — partitions, jsonb, bytea,
/// TOASTed values, the outbox and the audit log — restored and compared row for row with the
/// live database at the restore point: every table equal, `pg_amcheck` clean, the drill
/// recorded, although a writer commits throughout. A copy that differs is named table by table.
@Suite struct BackupDrillTests {
    @Test(.timeLimit(.minutes(2)))
    func aFullBackupOfEveryAppsTablesRestoresRowForRow() async throws {
        try await withArchivingCluster(lines: try StrataApplication.migrationLines()) { archiving in
            let pool = archiving.pool
            try await pool.query(
                """
                CREATE TABLE public.ledger (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload jsonb NOT NULL, blob bytea NOT NULL, note text NOT NULL
                )
                """
            )
            func write(_ count: Int, tag: String) async throws {
                try await pool.query(
                    """
                    INSERT INTO public.ledger (payload, blob, note)
                    SELECT jsonb_build_object('n', n, 'tag', \(tag)), decode(md5(n::text), 'hex'),
                           repeat(md5(n::text), CASE WHEN n % 10 = 0 THEN 500 ELSE 1 END)
                    FROM generate_series(1, \(count)) AS n
                    """
                )
                for index in 0..<5 {
                    let event = OutboxEvent(
                        app: "workorders",
                        aggregateType: "work_order",
                        aggregateID: "\(tag)-\(index)",
                        kind: "work_order.updated"
                    )
                    let record = AuditRecord(
                        app: "workorders",
                        actor: nil,
                        action: "update",
                        resourceType: "work_order",
                        resourceID: "\(tag)-\(index)"
                    )
                    try await pool.withTransaction { connection in
                        try await ChangeLog.record(
                            Change(events: [event], audit: record),
                            by: .job("drill-test"),
                            on: connection,
                            logger: pool.statementLogger
                        )
                    }
                }
            }
            try await write(2_000, tag: "before")
            let backups = try archiving.backups()
            _ = try await backups.create(.full)
            // Written after the backup: the restore replays them from the archived WAL.
            try await write(500, tag: "after")

            // A writer commits one row after another while the drill runs: the reference must be
            // exactly the restore point's, not a moment before or after it.
            try await pool.query(
                "CREATE TABLE public.stream (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())"
            )
            let writer = Task {
                var written = 0
                while !Task.isCancelled {
                    guard (try? await pool.query("INSERT INTO public.stream DEFAULT VALUES")) != nil else { break }
                    written += 1
                }
                return written
            }
            let drill = try await backups.drill(restores: try archiving.restores())
            writer.cancel()
            let streamed = await writer.value
            #expect(streamed > 50, "the writer kept writing during the drill (\(streamed) rows)")
            let tables = try await pool.query(
                """
                SELECT count(*) FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
                WHERE c.relkind = 'r' AND c.relpersistence = 'p' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
                """
            ).first?.decode(Int.self)
            #expect(drill.passed, "differing \(drill.differing), problems \(drill.problems)")
            #expect(
                drill.differing.isEmpty && drill.tablesCompared == tables && (tables ?? 0) > 40,
                "\(drill.tablesCompared) of \(tables ?? -1) tables"
            )
            let recorded = try await pool.query("SELECT passed, tables_compared FROM strata.backup_drills WHERE id = \(drill.id)").first?.decode(
                (Bool, Int).self
            )
            #expect(recorded.map { $0.0 && $0.1 == drill.tablesCompared } == true)
            #expect(try archiving.restores().copies().isEmpty, "the drill removed its copy")
        }
    }

    @Test func aCopyThatDiffersIsNamedTableByTable() {
        let live = [
            TableChecksum(table: "a.one", rows: 2, checksum: "x"), TableChecksum(table: "a.two", rows: 1, checksum: "y"),
            TableChecksum(table: "a.three", rows: 0, checksum: ""),
        ]
        let copy = [
            TableChecksum(table: "a.one", rows: 2, checksum: "x"), TableChecksum(table: "a.two", rows: 1, checksum: "z"),
            TableChecksum(table: "a.four", rows: 0, checksum: ""),
        ]
        #expect(BackupDrill.differing(expected: live, found: copy) == ["a.four", "a.three", "a.two"])
        #expect(BackupDrill.differing(expected: live, found: live).isEmpty)
    }
}

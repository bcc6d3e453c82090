import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

@Suite struct AuditWriterTests {
    func count(_ pool: PostgresPool, where resourceID: String) async throws -> Int64 {
        try await pool.query("SELECT count(*) FROM strata.audit_log WHERE resource_id = \(resourceID)").first?.decode(Int64.self) ?? -1
    }

    @Test(.timeLimit(.minutes(1)))
    func anEventAndItsAuditEntryAreWrittenTogetherOrNotAtAll() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            let trail = AuditTrail(facts: .init(ip: "192.0.2.7", requestID: "req-9"))
            trail.actor = "ann"
            let event = OutboxEvent(app: "workorders", aggregateType: "work_order", aggregateID: "wo-9", kind: "work_order.updated")
            let record = AuditRecord(app: "workorders", actor: nil, action: "update", resourceType: "work_order", resourceID: "wo-9")
            let caller = Caller(actor: "ann", name: "ann", audit: trail)
            try await pool.withTransaction { connection in
                try await ChangeLog.record(Change(events: [event], audit: record), by: caller, on: connection, logger: pool.statementLogger)
            }
            #expect(trail.isRecorded)
            let audit = try #require(
                try await pool.query("SELECT actor, host(ip), request_id FROM strata.audit_log WHERE resource_id = 'wo-9'").first
            )
            #expect(try audit.decode((String, String, String).self) == ("ann", "192.0.2.7", "req-9"), "the trail's facts and actor")
            let outbox = try await pool.query("SELECT actor FROM strata.outbox WHERE aggregate_id = 'wo-9' AND kind = 'work_order.updated'")
            #expect(try outbox.map { try $0.decode(String.self) } == ["ann"])

            // An entry the database refuses (details that are not JSON) takes the event with it:
            // no event is left without its entry.
            var bad = record
            bad.resourceID = "wo-10"
            bad.detailsJSON = "{not json"
            var orphan = event
            orphan.aggregateID = "wo-10"
            let (badRecord, orphanEvent) = (bad, orphan)
            await #expect(throws: (any Error).self) {
                try await pool.withTransaction { connection in
                    try await ChangeLog.record(
                        Change(events: [orphanEvent], audit: badRecord),
                        by: .job(),
                        on: connection,
                        logger: pool.statementLogger
                    )
                }
            }
            #expect(try await count(pool, where: "wo-10") == 0)
            #expect(try await pool.query("SELECT count(*) FROM strata.outbox WHERE aggregate_id = 'wo-10'").first?.decode(Int64.self) == 0)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func anEntryIsWrittenWithTheChangeAndVanishesWithItsRollback() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            let trail = AuditTrail(
                facts: .init(
                    ip: "2001:db8::7",
                    userAgent: "curl/8",
                    requestID: "req-1",
                    traceID: "4bf92f3577b34da6a3ce929d0e0e4736",
                    redactedBody: #"{"password":"[REDACTED]"}"#
                )
            )
            _ = try await pool.withTransaction { connection in
                try await trail.record(
                    AuditRecord(
                        app: "workorders",
                        actor: "ann",
                        action: "update",
                        resourceType: "work_order",
                        resourceID: "wo-1",
                        responseStatus: 200
                    ),
                    on: connection,
                    logger: pool.statementLogger
                )
            }
            #expect(trail.isRecorded)
            let row = try #require(
                try await pool.query(
                    """
                    SELECT actor, host(ip), user_agent, request_id, trace_id, response_status, request_body::text
                    FROM strata.audit_log WHERE resource_id = 'wo-1'
                    """
                ).first
            )
            let (actor, ip, agent, requestID, traceID, status, body) = try row.decode((String, String, String, String, String, Int16, String).self)
            #expect(actor == "ann" && ip == "2001:db8::7" && agent == "curl/8" && requestID == "req-1")
            #expect(traceID == "4bf92f3577b34da6a3ce929d0e0e4736" && status == 200 && body == #"{"password": "[REDACTED]"}"#)

            struct Abandon: Error {}
            await #expect(throws: Abandon.self) {
                try await pool.withTransaction { connection in
                    try await AuditWriter().record(
                        AuditRecord(app: "workorders", actor: "ann", action: "delete", resourceType: "work_order", resourceID: "wo-2"),
                        on: connection,
                        logger: pool.statementLogger
                    )
                    throw Abandon()
                }
            }
            #expect(try await count(pool, where: "wo-2") == 0)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func malformedRecordsAreRefusedByField() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            for (record, field) in [
                (AuditRecord(app: "Work Orders", actor: nil, action: "x", resourceType: "y"), "app"),
                (AuditRecord(app: "w", actor: nil, action: "x", resourceType: "y", request: .init(ip: "not-an-ip")), "ip"),
                (AuditRecord(app: "w", actor: nil, action: "x", resourceType: "y", responseStatus: 42), "response_status"),
                (AuditRecord(app: "w", actor: nil, action: "", resourceType: "y"), "action"),
            ] {
                let error = await #expect(throws: StrataError.self) {
                    try await pool.withConnection { connection in try await AuditWriter().record(record, on: connection, logger: pool.statementLogger)
                    }
                }
                #expect(error?.code == .invalidValue && error?.details["field"] == field)
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func thePlatformCreatesNoAppSchema() async throws {
        try await withTestDatabase(migrated: false) { database in
            try await Migrator(lines: [try .platform()], pool: database.pool, logger: TestPostgres.logger).migrate()
            let schemas = try await database.pool.query(
                "SELECT nspname FROM pg_namespace WHERE nspname IN ('factory', 'helpdesk', 'simjobs', 'workorders')"
            )
            #expect(schemas.isEmpty, "each app's own migrations create its schema")
        }
    }

}

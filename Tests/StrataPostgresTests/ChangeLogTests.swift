import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

/// The one write path: a change's events, audit entry and jobs recorded with the caller's facts
/// in the caller's transaction, all or nothing.
@Suite struct ChangeLogTests {
    static let caller: Caller = {
        let trail = AuditTrail(facts: .init(ip: "192.0.2.7", userAgent: "curl/8"))
        trail.actor = "api_key:ops"
        return Caller(actor: "api_key:ops", name: "ops", requestID: "req-7", traceID: "4bf92f3577b34da6a3ce929d0e0e4736", audit: trail)
    }()

    func event(_ id: String, _ kind: String = "ticket.updated") -> OutboxEvent {
        OutboxEvent(app: "helpdesk", aggregateType: "ticket", aggregateID: id, kind: kind, payloadJSON: #"{"id":"\#(id)"}"#)
    }

    func job(_ id: String) -> NewJob { NewJob(queue: "mail", kind: "helpdesk.notify", argsJSON: #"{"ticket":"\#(id)"}"#) }

    func recorded(_ pool: PostgresPool, _ id: String) async throws -> (events: Int64, audits: Int64, jobs: Int64) {
        let row = try await pool.query(
            """
            SELECT (SELECT count(*) FROM strata.outbox WHERE aggregate_id = \(id) AND actor = 'api_key:ops' AND request_id = 'req-7'),
                   (SELECT count(*) FROM strata.audit_log WHERE resource_id = \(id) AND actor = 'api_key:ops' AND request_id = 'req-7'
                                                          AND host(ip) = '192.0.2.7' AND trace_id = '4bf92f3577b34da6a3ce929d0e0e4736'),
                   (SELECT count(*) FROM strata.jobs WHERE args ->> 'ticket' = \(id))
            """
        )
        let (events, audits, jobs) = try row[0].decode((Int64, Int64, Int64).self)
        return (events, audits, jobs)
    }

    @Test(.timeLimit(.minutes(1)))
    func aChangeIsRecordedWithTheCallersFactsInOneStatement() async throws {
        try await withTestDatabase { database in
            let counter = RoundTripCounter()
            let pool = PostgresPool(url: database.url, configuration: .init(poolSize: 1, maxOverflow: 0), logger: counter.logger)
            let change = Change(
                app: "helpdesk",
                action: "update",
                resourceType: "ticket",
                resourceID: "t-1",
                status: 200,
                details: ["field": .string("priority")],
                events: [event("t-1")],
                jobs: [job("t-1"), job("t-1")]
            )
            let (trips, _) = try await pool.withRunning {
                _ = try await pool.query("SELECT 1")  // the connection opens (its start-up ends with a ReadyForQuery too)
                // The statement is prepared on a connection's first use of it; warm it up with another change.
                let warmUp = Change(
                    app: "helpdesk",
                    action: "update",
                    resourceType: "ticket",
                    resourceID: "t-0",
                    events: [event("t-0")],
                    jobs: [job("t-0")]
                )
                try await pool.withTransaction { connection in
                    try await ChangeLog.record(warmUp, by: .job("warm-up"), on: connection, logger: pool.statementLogger)
                }
                return try await counter.counting {
                    try await pool.withTransaction { connection in
                        try await ChangeLog.record(change, by: Self.caller, on: connection, logger: pool.statementLogger)
                    }
                }
            }
            #expect(trips == 3, "BEGIN, the change's one statement, COMMIT")
            #expect(Self.caller.audit.isRecorded)
            let counts = try await recorded(database.pool, "t-1")
            #expect(counts == (1, 1, 2))
            let details = try await database.pool.query("SELECT details::text FROM strata.audit_log WHERE resource_id = 't-1'")
            #expect(try JSONValue(parsing: details[0].decode(String.self)) == .object(["field": .string("priority")]))
        }
    }

    enum TicketStatus: String, StatusMachine {
        case open, solved
        static let resourceName = "ticket"
        var allowedNext: [Self] { self == .open ? [.solved] : [] }
    }

    /// A status change's event, audit entry, job and transitions take one statement together;
    /// transitions of two histories take one statement more each.
    @Test(.timeLimit(.minutes(1)))
    func aStatusChangeIsRecordedWithItsTransitionsInOneStatement() async throws {
        try await withTestDatabase { database in
            for table in ["ticket_history", "task_history"] {
                try await database.pool.query(
                    PostgresQuery(
                        unsafeSQL: """
                            CREATE TABLE public.\(table) (
                                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, resource_id text NOT NULL, from_status text,
                                to_status text NOT NULL, reason text, actor text, request_id text, changed_at timestamptz NOT NULL DEFAULT now())
                            """
                    )
                )
            }
            let (tickets, tasks) = (StatusHistory("public.ticket_history"), StatusHistory("public.task_history"))
            let counter = RoundTripCounter()
            let pool = PostgresPool(url: database.url, configuration: .init(poolSize: 1, maxOverflow: 0), logger: counter.logger)
            func change(_ id: String, histories: [StatusHistory]) -> Change {
                var change = Change(app: "helpdesk", action: "solve", resourceType: "ticket", resourceID: id, events: [event(id)], jobs: [job(id)])
                change.transitions = histories.flatMap { history in
                    [
                        history.transition(of: id, from: TicketStatus?.none, to: .open),
                        history.transition(of: id, from: TicketStatus.open, to: .solved, reason: "fixed"),
                    ]
                }
                return change
            }
            let warmUp = [change("t-0", histories: [tickets]), change("t-00", histories: [tickets, tasks])]
            let (single, double) = (change("t-1", histories: [tickets]), change("t-2", histories: [tickets, tasks]))
            let (one, two) = try await pool.withRunning {
                _ = try await pool.query("SELECT 1")
                // Each path's prepared statements are prepared on first use: warm both up.
                for warm in warmUp {
                    try await pool.withTransaction { connection in
                        try await ChangeLog.record(warm, by: .job("warm-up"), on: connection, logger: pool.statementLogger)
                    }
                }
                let one = try await counter.counting {
                    try await pool.withTransaction { connection in
                        try await ChangeLog.record(single, by: Self.caller, on: connection, logger: pool.statementLogger)
                    }
                }.0
                let two = try await counter.counting {
                    try await pool.withTransaction { connection in
                        try await ChangeLog.record(double, by: Self.caller, on: connection, logger: pool.statementLogger)
                    }
                }.0
                return (one, two)
            }
            #expect(one == 3, "BEGIN, the change's one statement, COMMIT")
            #expect(two == 5, "BEGIN, the event with its audit entry and job, each history, COMMIT")
            #expect(try await recorded(database.pool, "t-1") == (1, 1, 1))
            for (table, id) in [("ticket_history", "t-1"), ("ticket_history", "t-2"), ("task_history", "t-2")] {
                let rows = try await database.pool.query(
                    PostgresQuery(
                        unsafeSQL: """
                            SELECT coalesce(from_status, '-') || '>' || to_status || ':' || coalesce(reason, '-') || ':' || actor || ':' || request_id
                            FROM public.\(table) WHERE resource_id = $1 ORDER BY id
                            """,
                        binds: {
                            var bindings = PostgresBindings()
                            bindings.append(id)
                            return bindings
                        }()
                    )
                ).map { try $0.decode(String.self) }
                #expect(rows == ["->open:-:api_key:ops:req-7", "open>solved:fixed:api_key:ops:req-7"], "\(table) \(id)")
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func severalEventsAndAJobWithoutAuditAndARollbackThatLeavesNothing() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            let worker = Caller.job("gpu-1", kind: "worker")
            #expect(worker.actor == "worker:gpu-1" && Caller.job().actor == "system")
            try await pool.withTransaction { connection in
                try await ChangeLog.record(
                    Change(events: [event("t-2", "ticket.assigned"), event("t-2", "ticket.updated")], jobs: [job("t-2")]),
                    by: worker,
                    on: connection,
                    logger: pool.statementLogger
                )
            }
            let kinds = try await pool.query("SELECT kind, actor FROM strata.outbox WHERE aggregate_id = 't-2' ORDER BY id")
            #expect(
                try kinds.map { try $0.decode((String, String).self) }.map { "\($0.0) by \($0.1)" } == [
                    "ticket.assigned by worker:gpu-1", "ticket.updated by worker:gpu-1",
                ]
            )
            #expect(try await pool.query("SELECT count(*) FROM strata.audit_log").first?.decode(Int64.self) == 0)

            struct Refused: Error {}
            await #expect(throws: Refused.self) {
                try await pool.withTransaction { connection in
                    try await ChangeLog.record(
                        Change(
                            app: "helpdesk",
                            action: "update",
                            resourceType: "ticket",
                            resourceID: "t-3",
                            events: [event("t-3")],
                            jobs: [job("t-3")]
                        ),
                        by: Self.caller,
                        on: connection,
                        logger: pool.statementLogger
                    )
                    throw Refused()
                }
            }
            let left = try await recorded(pool, "t-3")
            #expect(left == (0, 0, 0), "nothing of a rolled-back change remains")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aMalformedPartRefusesTheWholeChange() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            let badJob = NewJob(queue: "Not A Queue", kind: "helpdesk.notify", argsJSON: #"{"ticket":"t-4"}"#)
            await #expect(throws: StrataError(.invalidValue, "")) {
                try await pool.withTransaction { connection in
                    try await ChangeLog.record(
                        Change(app: "helpdesk", action: "update", resourceType: "ticket", resourceID: "t-4", events: [event("t-4")], jobs: [badJob]),
                        by: Self.caller,
                        on: connection,
                        logger: pool.statementLogger
                    )
                }
            }
            let left = try await recorded(pool, "t-4")
            #expect(left == (0, 0, 0))
        }
    }
}

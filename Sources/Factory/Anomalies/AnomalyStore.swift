import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// The SQL of anomalies, their solutions, work orders and cases. Every method takes the
/// connection of a scoped transaction (``FactoryScope``): none filters by scope itself, and
/// row-level security keeps each to the caller's lines.
struct AnomalyStore: Sendable {
    let logger: Logger

    // MARK: Anomalies

    struct NewAnomaly: Sendable {
        var id: UUID
        var lineID: String
        var stationID: String?
        var defectType: String
        var severity: Severity
        var description: String?
        var detectedAt: Date
        var assignedTo: String?
        var createdBy: String
    }

    /// Inserts an anomaly on a line of the caller's scope (the line's factory is copied from it).
    /// `nil` when the line is not in scope.
    func insert(_ new: NewAnomaly, on connection: PostgresConnection) async throws -> Anomaly? {
        try await connection.run(
            """
            INSERT INTO factory.anomalies (anomaly_id, factory_id, line_id, station_id, defect_type, severity, description,
                                           detected_at, assigned_to, created_by)
            SELECT \(new.id), l.factory_id, l.line_id, \(new.stationID), \(new.defectType), \(new.severity.rawValue), \(new.description),
                   \(new.detectedAt), \(new.assignedTo), \(new.createdBy)
            FROM factory.production_lines AS l WHERE l.line_id = \(new.lineID)
            RETURNING \(unescaped: Anomaly.columns)
            """,
            logger: logger
        ).collect().first.map(Anomaly.init(row:))
    }

    func anomaly(_ id: UUID, lock: Bool = false, on connection: PostgresConnection) async throws -> Anomaly? {
        let rows = lock ? try await connection.rows(ByIDForUpdate(key: id), logger: logger) : try await connection.rows(ByID(key: id), logger: logger)
        return try rows.first.map(Anomaly.init(row:))
    }

    /// An anomaly, and whether it has any solutions and any work orders (the detail reads them
    /// only then: most anomalies, newly detected, have neither).
    func anomalyWithChildren(_ id: UUID, on connection: PostgresConnection) async throws -> (Anomaly, hasSolutions: Bool, hasWorkOrders: Bool)? {
        guard let row = try await connection.rows(ByIDWithChildren(key: id), logger: logger).first else { return nil }
        let columns = row.makeRandomAccess()
        return (try Anomaly(row: row), try columns["has_solutions"].decode(Bool.self), try columns["has_work_orders"].decode(Bool.self))
    }

    /// ``anomalyWithChildren(_:on:)``'s read, prepared.
    struct ByIDWithChildren: PreparedLookup {
        static let name = "factory.AnomalyByIDWithChildren"
        static let sql = """
            SELECT \(Anomaly.columns),
                   EXISTS (SELECT FROM factory.solutions AS s WHERE s.anomaly_id = $1) AS has_solutions,
                   EXISTS (SELECT FROM factory.work_orders AS w WHERE w.anomaly_id = $1) AS has_work_orders
            FROM factory.anomalies WHERE anomaly_id = $1
            """
        static let bindingDataTypes: [PostgresDataType] = [.uuid]

        var key: UUID
    }

    /// ``anomaly(_:lock:on:)``'s read, prepared (``ByIDForUpdate`` is the same, locking the row).
    struct ByID: PreparedLookup {
        static let name = "factory.AnomalyByID"
        static let sql = "SELECT \(Anomaly.columns) FROM factory.anomalies WHERE anomaly_id = $1"
        static let bindingDataTypes: [PostgresDataType] = [.uuid]

        var key: UUID
    }

    /// ``ByID`` locking the row for the transaction's change.
    struct ByIDForUpdate: PreparedLookup {
        static let name = "factory.AnomalyByIDForUpdate"
        static let sql = ByID.sql + " FOR UPDATE"
        static let bindingDataTypes: [PostgresDataType] = [.uuid]

        var key: UUID
    }

    struct Filter: Sendable {
        var lineID: String?
        var stationID: String?
        var status: AnomalyStatus?
        var severity: Severity?
    }

    /// Anomalies newest first, a page at a time.
    func anomalies(_ filter: Filter, limit: Int, cursor: Cursor?, on connection: PostgresConnection) async throws -> Page<Anomaly> {
        let position = try NewestFirst<UUID>(after: cursor)
        let rows: [PostgresRow]
        if let after = position.after {
            rows = try await connection.rows(NextPage(filter: filter, limit: limit + 1, after: after), logger: logger)
        } else {
            rows = try await connection.rows(FirstPage(filter: filter, limit: limit + 1), logger: logger)
        }
        return try position.page(rows, limit: limit, item: Anomaly.init(row:), id: \.anomalyID)
    }

    /// The statement of a page of anomalies: the filters that are set (`NULL` for the others),
    /// the page's size and, after the first page, the position it follows.
    static func pageSQL(after: Bool) -> String {
        """
        SELECT \(Anomaly.columns), \(NewestFirst<UUID>.positionColumn)
        FROM factory.anomalies
        WHERE ($1::text IS NULL OR line_id = $1) AND ($2::text IS NULL OR station_id = $2)
          AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR severity = $4)
          \(after ? "AND (created_at, anomaly_id) < (timestamptz 'epoch' + $6 * interval '1 microsecond', $7)" : "")
        ORDER BY created_at DESC, anomaly_id DESC
        LIMIT $5
        """
    }

    /// The first page of a list, prepared: planning the list over the table's policy cost as
    /// much as running it.
    struct FirstPage: PostgresPreparedStatement {
        static let name = "factory.AnomaliesFirstPage"
        static let sql = pageSQL(after: false)
        static let bindingDataTypes: [PostgresDataType] = [.text, .text, .text, .text, .int4]
        typealias Row = PostgresRow

        var filter: Filter
        var limit: Int

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: Self.bindingDataTypes.count)
            bindings.append(filter.lineID)
            bindings.append(filter.stationID)
            bindings.append(filter.status?.rawValue)
            bindings.append(filter.severity?.rawValue)
            bindings.append(Int32(clamping: limit))
            return bindings
        }
    }

    /// A later page of a list (its own statement, so that the position bounds the index scan
    /// rather than filtering it), prepared.
    struct NextPage: PostgresPreparedStatement {
        static let name = "factory.AnomaliesNextPage"
        static let sql = pageSQL(after: true)
        static let bindingDataTypes: [PostgresDataType] = [.text, .text, .text, .text, .int4, .int8, .uuid]
        typealias Row = PostgresRow

        var filter: Filter
        var limit: Int
        var after: (micros: Int64, id: UUID)

        func makeBindings() throws -> PostgresBindings {
            var bindings = try FirstPage(filter: filter, limit: limit).makeBindings()
            bindings.append(after.micros)
            bindings.append(after.id)
            return bindings
        }
    }

    struct Edit: Sendable {
        var defectType: String?
        var severity: Severity?
        var description: String?
        var assignedTo: String?
        var rootCause: String?
    }

    /// Edits an anomaly at `expectedVersion`; `nil` when no row matched.
    func update(_ id: UUID, _ edit: Edit, expectedVersion: Int64, on connection: PostgresConnection) async throws -> Anomaly? {
        try await connection.run(
            """
            UPDATE factory.anomalies
            SET defect_type = coalesce(\(edit.defectType), defect_type), severity = coalesce(\(edit.severity?.rawValue), severity),
                description = coalesce(\(edit.description), description), assigned_to = coalesce(\(edit.assignedTo), assigned_to),
                root_cause = coalesce(\(edit.rootCause), root_cause), version = version + 1
            WHERE anomaly_id = \(id) AND version = \(expectedVersion)
            RETURNING \(unescaped: Anomaly.columns)
            """,
            logger: logger
        ).collect().first.map(Anomaly.init(row:))
    }

    /// Moves an anomaly to `status` (stamping `closed_at` when it closes, clearing it and
    /// counting the reopening when it leaves `closed`).
    func setStatus(_ id: UUID, to status: AnomalyStatus, on connection: PostgresConnection) async throws -> Anomaly {
        guard let row = try await connection.rows(SetStatus(id: id, status: status), logger: logger).first else {
            throw StrataError(.notFound, "No anomaly has this id.")
        }
        return try Anomaly(row: row)
    }

    /// ``setStatus(_:to:on:)``'s update, prepared (every transition runs it, and planning it
    /// through the table's policy cost more than running it).
    struct SetStatus: PostgresPreparedStatement {
        static let name = "factory.AnomalySetStatus"
        static let sql = """
            UPDATE factory.anomalies
            SET status = $2, version = version + 1,
                closed_at = CASE WHEN $2 = 'closed' THEN greatest(now(), detected_at) END,
                reopen_count = reopen_count + CASE WHEN status = 'closed' AND $2 <> 'closed' THEN 1 ELSE 0 END
            WHERE anomaly_id = $1
            RETURNING \(Anomaly.columns)
            """
        static let bindingDataTypes: [PostgresDataType] = [.uuid, .text]
        typealias Row = PostgresRow

        var id: UUID
        var status: AnomalyStatus

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(id)
            bindings.append(status.rawValue)
            return bindings
        }
    }

    /// Whether the anomaly has a completed work order whose result was verified.
    func hasVerifiedWorkOrder(_ id: UUID, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.run(
            "SELECT EXISTS (SELECT 1 FROM factory.work_orders WHERE anomaly_id = \(id) AND status = 'completed' AND result_verified)",
            logger: logger
        ).collect()
        return try rows.first?.decode(Bool.self) ?? false
    }

    // MARK: Solutions

    func insertSolution(
        _ draft: AnomalyService.SolutionDraft,
        id: UUID,
        anomaly: Anomaly,
        createdBy: String,
        on connection: PostgresConnection
    )
        async throws -> Solution
    {
        let rows = try await connection.run(
            """
            INSERT INTO factory.solutions (solution_id, anomaly_id, factory_id, line_id, solution_type, solution_name, description,
                                           estimated_downtime_hours, success_rate, expected_loss, roi, simulation_result, created_by)
            VALUES (\(id), \(anomaly.anomalyID), \(anomaly.factoryID), \(anomaly.lineID), \(draft.solutionType.rawValue), \(draft.solutionName),
                    \(draft.description), \(draft.estimatedDowntimeHours), \(draft.successRate), \(draft.expectedLoss), \(draft.roi),
                    \(draft.simulationResult?.text)::jsonb, \(createdBy))
            RETURNING \(unescaped: Solution.columns)
            """,
            logger: logger
        ).collect()
        return try Solution(row: rows[0])
    }

    func solution(_ id: UUID, on connection: PostgresConnection) async throws -> Solution? {
        try await connection.run("SELECT \(unescaped: Solution.columns) FROM factory.solutions WHERE solution_id = \(id)", logger: logger)
            .collect().first.map(Solution.init(row:))
    }

    func solutions(of anomaly: UUID, on connection: PostgresConnection) async throws -> [Solution] {
        try await connection.rows(SolutionsOf(key: anomaly), logger: logger).map(Solution.init(row:))
    }

    /// ``solutions(of:on:)``'s read, prepared (every anomaly's detail reads it).
    struct SolutionsOf: PreparedLookup {
        static let name = "factory.SolutionsOfAnomaly"
        static let sql = "SELECT \(Solution.columns) FROM factory.solutions WHERE anomaly_id = $1 ORDER BY created_at, solution_id"
        static let bindingDataTypes: [PostgresDataType] = [.uuid]

        var key: UUID
    }

    /// Marks a solution recommended, moving the mark from another solution of its anomaly.
    func recommend(_ solution: Solution, on connection: PostgresConnection) async throws -> Solution {
        try await connection.run(
            "UPDATE factory.solutions SET recommended = false, version = version + 1 WHERE anomaly_id = \(solution.anomalyID) AND recommended",
            logger: logger
        )
        return try await set(solution, adopted: nil, recommended: true, on: connection)
    }

    /// Sets a solution's marks (`nil`: unchanged). The partial unique index refuses a second
    /// adopted solution of one anomaly.
    func set(_ solution: Solution, adopted: Bool?, recommended: Bool? = nil, on connection: PostgresConnection) async throws -> Solution {
        let rows = try await connection.run(
            """
            UPDATE factory.solutions
            SET adopted = coalesce(\(adopted), adopted), recommended = coalesce(\(recommended), recommended), version = version + 1
            WHERE solution_id = \(solution.solutionID)
            RETURNING \(unescaped: Solution.columns)
            """,
            logger: logger
        ).collect()
        return try Solution(row: rows[0])
    }

    /// Clears the adoption of the anomaly's solutions (a failed fix, a reopening).
    func clearAdoption(of anomaly: UUID, on connection: PostgresConnection) async throws {
        try await connection.run(
            "UPDATE factory.solutions SET adopted = false, version = version + 1 WHERE anomaly_id = \(anomaly) AND adopted",
            logger: logger
        )
    }

    /// The anomaly's adopted solution, if any.
    func adoptedSolution(of anomaly: UUID, on connection: PostgresConnection) async throws -> Solution? {
        try await connection.run(
            "SELECT \(unescaped: Solution.columns) FROM factory.solutions WHERE anomaly_id = \(anomaly) AND adopted",
            logger: logger
        ).collect().first.map(Solution.init(row:))
    }

    // MARK: Work orders

    func insertWorkOrder(
        _ draft: AnomalyService.WorkOrderDraft,
        id: UUID,
        solution: Solution,
        createdBy: String,
        on connection: PostgresConnection
    )
        async throws -> WorkOrder
    {
        let rows = try await connection.run(
            """
            INSERT INTO factory.work_orders (order_id, solution_id, anomaly_id, factory_id, line_id, order_type, responsible_user_id,
                                             instructions, estimated_duration_hours, created_by)
            VALUES (\(id), \(solution.solutionID), \(solution.anomalyID), \(solution.factoryID), \(solution.lineID), \(draft.orderType.rawValue),
                    \(draft.responsibleUserID), \(draft.instructions), \(draft.estimatedDurationHours), \(createdBy))
            RETURNING \(unescaped: WorkOrder.columns)
            """,
            logger: logger
        ).collect()
        return try WorkOrder(row: rows[0])
    }

    func workOrder(_ id: UUID, lock: Bool = false, on connection: PostgresConnection) async throws -> WorkOrder? {
        try await connection.run(
            "SELECT \(unescaped: WorkOrder.columns) FROM factory.work_orders WHERE order_id = \(id) \(unescaped: lock ? "FOR UPDATE" : "")",
            logger: logger
        ).collect().first.map(WorkOrder.init(row:))
    }

    func workOrders(of anomaly: UUID, on connection: PostgresConnection) async throws -> [WorkOrder] {
        try await connection.rows(WorkOrdersOf(key: anomaly), logger: logger).map(WorkOrder.init(row:))
    }

    /// ``workOrders(of:on:)``'s read, prepared (every anomaly's detail reads it).
    struct WorkOrdersOf: PreparedLookup {
        static let name = "factory.WorkOrdersOfAnomaly"
        static let sql = "SELECT \(WorkOrder.columns) FROM factory.work_orders WHERE anomaly_id = $1 ORDER BY created_at, order_id"
        static let bindingDataTypes: [PostgresDataType] = [.uuid]

        var key: UUID
    }

    /// Work orders newest first, a page at a time.
    func workOrders(
        line: String?,
        status: WorkOrderStatus?,
        limit: Int,
        cursor: Cursor?,
        on connection: PostgresConnection
    ) async throws
        -> Page<WorkOrder>
    {
        let position = try NewestFirst<UUID>(after: cursor)
        let rows = try await connection.run(
            """
            SELECT \(unescaped: WorkOrder.columns), \(unescaped: NewestFirst<UUID>.positionColumn)
            FROM (SELECT *, order_id AS id FROM factory.work_orders) AS w
            WHERE (\(line)::text IS NULL OR line_id = \(line)) AND (\(status?.rawValue)::text IS NULL OR status = \(status?.rawValue))
              AND \(after: position)
            ORDER BY created_at DESC, id DESC
            LIMIT \(limit + 1)
            """,
            logger: logger
        ).collect()
        return try position.page(rows, limit: limit, item: WorkOrder.init(row:), id: \.orderID)
    }

    struct WorkOrderUpdate: Sendable {
        var status: WorkOrderStatus
        var executionResult: WorkOrder.Result?
        var actualLoss: Double?
        var actualDurationHours: Double?
        var notes: String?
    }

    /// Moves a work order to a new status: `started_at` on start, `completed_at` (and the
    /// actual duration, when not given, from the start) when it ends.
    func update(_ order: WorkOrder, _ update: WorkOrderUpdate, on connection: PostgresConnection) async throws -> WorkOrder {
        let rows = try await connection.run(
            """
            UPDATE factory.work_orders
            SET status = \(update.status.rawValue), version = version + 1,
                started_at = CASE WHEN \(update.status.rawValue) = 'in_progress' THEN now() ELSE started_at END,
                completed_at = CASE WHEN \(update.status.rawValue) IN ('completed', 'failed', 'cancelled') THEN now() ELSE completed_at END,
                execution_result = coalesce(\(update.executionResult?.rawValue), execution_result),
                actual_loss = coalesce(\(update.actualLoss), actual_loss),
                notes = coalesce(\(update.notes), notes),
                actual_duration_hours = coalesce(\(update.actualDurationHours), actual_duration_hours,
                    CASE WHEN \(update.status.rawValue) IN ('completed', 'failed') AND started_at IS NOT NULL
                         THEN round((extract(epoch FROM now() - started_at) / 3600)::numeric, 2) END)
            WHERE order_id = \(order.orderID)
            RETURNING \(unescaped: WorkOrder.columns)
            """,
            logger: logger
        ).collect()
        return try WorkOrder(row: rows[0])
    }

    func setVerified(_ order: WorkOrder, on connection: PostgresConnection) async throws -> WorkOrder {
        let rows = try await connection.run(
            """
            UPDATE factory.work_orders SET result_verified = true, version = version + 1 WHERE order_id = \(order.orderID)
            RETURNING \(unescaped: WorkOrder.columns)
            """,
            logger: logger
        ).collect()
        return try WorkOrder(row: rows[0])
    }

    // MARK: Cases

    struct NewCase: Sendable {
        var id: UUID
        var anomaly: Anomaly
        var problemDescription: String
        var diagnosis: JSONValue?
        var solution: Solution?
        var expectedEffect: JSONValue?
        var actualEffect: JSONValue?
        var lessonsLearned: String?
        var tags: [String]
        var createdBy: String
    }

    func insertCase(_ new: NewCase, on connection: PostgresConnection) async throws -> CaseEntry {
        let rows = try await connection.run(
            """
            INSERT INTO factory.case_library (case_id, anomaly_id, factory_id, line_id, problem_description, diagnosis_result, solution_id,
                                              expected_effect, actual_effect, lessons_learned, tags, created_by)
            VALUES (\(new.id), \(new.anomaly.anomalyID), \(new.anomaly.factoryID), \(new.anomaly.lineID), \(new.problemDescription),
                    \(new.diagnosis?.text)::jsonb, \(new.solution?.solutionID), \(new.expectedEffect?.text)::jsonb,
                    \(new.actualEffect?.text)::jsonb, \(new.lessonsLearned), \(new.tags), \(new.createdBy))
            RETURNING \(unescaped: CaseEntry.columns)
            """,
            logger: logger
        ).collect()
        return try CaseEntry(row: rows[0])
    }

    func caseEntry(_ id: UUID, on connection: PostgresConnection) async throws -> CaseEntry? {
        try await connection.run("SELECT \(unescaped: CaseEntry.columns) FROM factory.case_library WHERE case_id = \(id)", logger: logger)
            .collect().first.map(CaseEntry.init(row:))
    }

    /// Cases newest first: those holding every tag of `tags` (the GIN index) and matching every
    /// word of `text` in their problem and lessons (the text index).
    func cases(tags: [String], text: String?, limit: Int, cursor: Cursor?, on connection: PostgresConnection) async throws -> Page<CaseEntry> {
        let position = try NewestFirst<UUID>(after: cursor)
        let rows = try await connection.run(
            """
            SELECT \(unescaped: CaseEntry.columns), \(unescaped: NewestFirst<UUID>.positionColumn)
            FROM (SELECT *, case_id AS id FROM factory.case_library) AS c
            WHERE tags @> \(tags)::text[]
              AND (\(text)::text IS NULL OR search @@ plainto_tsquery('simple', \(text)))
              AND \(after: position)
            ORDER BY created_at DESC, id DESC
            LIMIT \(limit + 1)
            """,
            logger: logger
        ).collect()
        return try position.page(rows, limit: limit, item: CaseEntry.init(row:), id: \.caseID)
    }
}

public import Foundation
import Logging
import PostgresNIO
public import StrataCore
public import StrataPostgres

/// The workorders store in PostgreSQL (schema `workorders`). A unit of change is one
/// transaction; its events go to the platform outbox and its audit records to the audit log
/// in that same transaction.
public struct PostgresWorkOrdersRepository: WorkOrdersRepository {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    var logger: Logger { pool.statementLogger }

    public func order(_ id: UUID) async throws -> WorkOrder? {
        try await pool.rows(OrderRows.ByID(key: id)).first.map(OrderRows.order(from:))
    }

    public func orders(_ filter: WorkOrderFilter, limit: Int, cursor: Cursor?) async throws -> Page<WorkOrderSummary> {
        let position = try NewestFirst<UUID>(after: cursor)
        let (afterMicros, afterID) = (position.after?.micros, position.after?.id)
        if filter == WorkOrderFilter() {
            let rows =
                if let afterMicros, let afterID {
                    try await pool.rows(OrderRows.NewestSummariesAfter(micros: afterMicros, id: afterID, limit: limit + 1))
                } else {
                    try await pool.rows(OrderRows.NewestSummaries(limit: limit + 1))
                }
            return try position.page(rows, limit: limit, item: OrderRows.summary(from:), id: \.id)
        }
        let rows = try await pool.query(
            """
            \(unescaped: OrderRows.selectSummary)
            WHERE (\(filter.status?.rawValue)::text IS NULL OR o.status = \(filter.status?.rawValue))
              AND (\(filter.priority?.rawValue)::text IS NULL OR o.priority = \(filter.priority?.rawValue))
              AND (\(filter.ownerID)::text IS NULL OR o.owner_id = \(filter.ownerID))
              AND (\(filter.ids)::uuid[] IS NULL OR o.id = ANY(\(filter.ids)))
              AND (\(afterMicros)::bigint IS NULL
                   OR (o.created_at, o.id) < (timestamptz 'epoch' + \(afterMicros)::bigint * interval '1 microsecond', \(afterID)::uuid))
            ORDER BY o.created_at DESC, o.id DESC
            LIMIT \(limit + 1)
            """
        )
        return try position.page(rows, limit: limit, item: OrderRows.summary(from:), id: \.id)
    }

    public func progressLogs(of orderID: UUID, afterID: Int64, limit: Int) async throws -> [ProgressLog] {
        let rows = try await pool.query(
            """
            SELECT \(unescaped: OrderRows.progressColumns) FROM workorders.work_order_progress_logs
            WHERE work_order_id = \(orderID) AND id > \(afterID) ORDER BY id LIMIT \(limit)
            """
        )
        return try rows.map { try OrderRows.progress(from: $0) }
    }

    public func statusHistory(of orderID: UUID) async throws -> [StatusTransition] {
        try await WorkOrdersService.statusHistory.entries(of: orderID.uuidString, on: pool)
    }

    public func messages(of orderID: UUID, afterID: Int64, limit: Int) async throws -> [WorkOrderMessage] {
        let rows = try await pool.query(
            """
            SELECT \(unescaped: OrderRows.messageColumns) FROM workorders.work_order_messages
            WHERE work_order_id = \(orderID) AND id > \(afterID) ORDER BY id LIMIT \(limit)
            """
        )
        return try rows.map(OrderRows.message(from:))
    }

    public func unreadCounts(for reader: String) async throws -> [UUID: Int] {
        let rows = try await pool.query(
            """
            SELECT o.id, count(*) AS unread FROM workorders.work_orders AS o
            JOIN workorders.work_order_messages AS m ON m.work_order_id = o.id
            LEFT JOIN workorders.message_reads AS r ON r.work_order_id = o.id AND r.reader = \(reader)
            WHERE o.watchers @> ARRAY[\(reader)] AND m.created_by <> \(reader) AND m.id > coalesce(r.last_read_id, 0)
            GROUP BY o.id
            """
        )
        var counts: [UUID: Int] = [:]
        for row in rows {
            let columns = row.makeRandomAccess()
            counts[try columns["id"].decode(UUID.self)] = Int(try columns["unread"].decode(Int64.self))
        }
        return counts
    }

    public func quickReplies(of ownerID: String) async throws -> [QuickReply] {
        let rows = try await pool.query(
            "SELECT id, owner_id, role, content, created_at FROM workorders.quick_replies WHERE owner_id = \(ownerID) ORDER BY seq"
        )
        return try rows.map { row in
            let c = row.makeRandomAccess()
            return QuickReply(
                id: try c["id"].decode(UUID.self),
                ownerID: try c["owner_id"].decode(String.self),
                role: try c["role"].decode(String.self),
                content: try c["content"].decode(String.self),
                createdAt: try c["created_at"].decode(Date.self)
            )
        }
    }

    public func license() async throws -> License {
        try OrderRows.license(from: try await pool.query("SELECT \(unescaped: OrderRows.licenseColumns) FROM workorders.licenses WHERE id = 1")[0])
    }

    public func activationCode(lookup: String) async throws -> ActivationCode? {
        try await pool.query("SELECT \(unescaped: OrderRows.activationCodeColumns) FROM workorders.license_activation_codes WHERE lookup = \(lookup)")
            .first.map(OrderRows.activationCode(from:))
    }

    public func customerCredential(login: String) async throws -> CustomerCredential? {
        let rows = try await pool.query(
            "SELECT \(unescaped: OrderRows.accessColumns), password_hash FROM workorders.customer_accesses WHERE login = \(login)"
        )
        return try rows.first.map { row in
            let columns = row.makeRandomAccess()
            guard let access = try OrderRows.access(from: columns) else {
                throw StrataError(.internalError, "A customer access row is empty.")
            }
            return CustomerCredential(access: access, passwordHash: try columns["password_hash"].decode(String.self))
        }
    }

    public func events(of orderID: UUID) async throws -> [OutboxEvent] {
        let rows = try await pool.query(
            """
            SELECT aggregate_type, kind, payload::text AS payload, actor, request_id FROM strata.outbox
            WHERE app = 'workorders' AND aggregate_id = \(orderID.uuidString) ORDER BY id
            """
        )
        return try rows.map { row in
            let c = row.makeRandomAccess()
            return OutboxEvent(
                app: "workorders",
                aggregateType: try c["aggregate_type"].decode(String.self),
                aggregateID: orderID.uuidString,
                kind: try c["kind"].decode(String.self),
                payloadJSON: try c["payload"].decode(String.self),
                actor: try c["actor"].decode(String?.self),
                requestID: try c["request_id"].decode(String?.self)
            )
        }
    }

    public func write<T: Sendable>(_ body: @Sendable (any WorkOrdersWriter) async throws -> T) async throws -> T {
        try await pool.withTransaction { connection in
            try await body(Unit(connection: connection, logger: logger))
        }
    }

    /// One transaction's changes.
    struct Unit: WorkOrdersWriter {
        let connection: PostgresConnection
        let logger: Logger

        func query(_ query: PostgresQuery) async throws -> [PostgresRow] {
            try await connection.run(query, logger: logger).collect()
        }

        func lockOrder(_ id: UUID) async throws -> WorkOrder? {
            // One statement locks and reads. Under READ COMMITTED, one that waited for the lock
            // re-reads the locked row but still evaluates the steps subquery in its snapshot from
            // before the wait; then the snapshot's version is older than the row's, and the order
            // is read again by a new statement (which sees the committed steps; the lock is held).
            // Without the second read, 20 concurrent reports lose updates (the contract test fails).
            guard let row = try await connection.rows(OrderRows.LockByID(key: id), logger: logger).first else { return nil }
            let order = try OrderRows.order(from: row)
            let snapshotVersion = try row.makeRandomAccess()[OrderRows.snapshotVersionColumn].decode(Int64?.self)
            guard snapshotVersion != order.version else { return order }
            return try await connection.rows(OrderRows.ByID(key: id), logger: logger).first.map(OrderRows.order(from:))
        }

        func nextOrderCode(on date: Date) async throws -> String {
            let number = try await query("SELECT nextval('workorders.work_order_code_seq')")[0].decode(Int64.self)
            return WorkOrderCode.generated(on: date, number: Int(number))
        }

        func insertOrder(_ order: WorkOrder) async throws -> WorkOrder {
            // The order and its steps in one statement (the steps' foreign keys are checked at
            // its end, when the order row is there).
            let steps = StepRows(order.steps.indices.map { ($0, order.steps[$0]) })
            var stored = order
            try await renamingCodeConflict(order.code) {
                let rows = try await connection.rows(OrderRows.InsertOrder(order: order, steps: steps), logger: logger)
                let columns = rows[0].makeRandomAccess()
                (stored.version, stored.createdAt, stored.updatedAt) = (
                    try columns["version"].decode(Int64.self), try columns["created_at"].decode(Date.self),
                    try columns["updated_at"].decode(Date.self)
                )
            }
            stored.customerAccess = nil
            return stored
        }

        func updateOrder(_ order: WorkOrder, steps changed: Set<String>) async throws -> WorkOrder {
            // The order's row and its changed steps in one statement.
            let steps = StepRows(order.steps.indices.filter { changed.contains(order.steps[$0].stepCode) }.map { ($0, order.steps[$0]) })
            var stored = order
            try await renamingCodeConflict(order.code) {
                let rows = try await connection.rows(OrderRows.UpdateOrder(order: order, steps: steps), logger: logger)
                guard let row = rows.first else { throw StrataError(.notFound, "No work order has this id.") }
                let columns = row.makeRandomAccess()
                (stored.version, stored.updatedAt) = (try columns["version"].decode(Int64.self), try columns["updated_at"].decode(Date.self))
            }
            return stored
        }

        /// Turns the unique violation of the order code into the app's own error.
        private func renamingCodeConflict(_ code: String, _ body: () async throws -> Void) async throws {
            do {
                try await body()
            } catch let error as PSQLError where error.serverInfo?[.constraintName] == "work_orders_code_key" {
                throw WorkOrderCode.taken(code)
            }
        }

        func deleteOrder(_ id: UUID) async throws -> Bool {
            !(try await query("DELETE FROM workorders.work_orders WHERE id = \(id) RETURNING id").isEmpty)
        }

        func recordProgress(_ order: WorkOrder, step code: String, log: ProgressLog) async throws -> (WorkOrder, ProgressLog) {
            guard let step = order.steps.first(where: { $0.stepCode == code }) else {
                throw WorkOrder.noStep(code)
            }
            guard let row = try await connection.rows(OrderRows.RecordProgress(order: order, step: step, log: log), logger: logger).first else {
                throw StrataError(.notFound, "No work order has this id.")
            }
            var stored = order
            let columns = row.makeRandomAccess()
            (stored.version, stored.updatedAt) = (try columns["order_version"].decode(Int64.self), try columns["order_updated_at"].decode(Date.self))
            return (stored, try OrderRows.progress(from: row))
        }

        func appendMessage(_ message: NewMessage) async throws -> WorkOrderMessage {
            let rows = try await query(
                """
                INSERT INTO workorders.work_order_messages (work_order_id, message_type, role, body, object_key, file_name, content_type,
                    file_size, payload, created_by)
                VALUES (\(message.workOrderID), \(message.kind.rawValue), \(message.role.rawValue), \(message.body),
                    \(message.file?.objectKey), \(message.file?.fileName), \(message.file?.contentType), \(message.file?.size),
                    \(message.payload.text)::jsonb, \(message.createdBy))
                RETURNING \(unescaped: OrderRows.messageColumns)
                """
            )
            return try OrderRows.message(from: rows[0])
        }

        func markRead(_ orderID: UUID, reader: String, lastReadID: Int64) async throws {
            _ = try await query(
                """
                INSERT INTO workorders.message_reads (work_order_id, reader, last_read_id) VALUES (\(orderID), \(reader), \(lastReadID))
                ON CONFLICT (reader, work_order_id) DO UPDATE
                SET last_read_id = greatest(message_reads.last_read_id, excluded.last_read_id), read_at = now()
                """
            )
        }

        func putCustomerAccess(_ access: CustomerAccess, passwordHash: String) async throws -> CustomerAccess {
            let rows = try await query(
                """
                INSERT INTO workorders.customer_accesses (id, work_order_id, customer_name, company, contact_phone, login, password_hash)
                VALUES (\(access.id), \(access.workOrderID), \(access.customerName), \(access.company), \(access.contactPhone),
                    \(access.login), \(passwordHash))
                ON CONFLICT (work_order_id) DO UPDATE SET id = excluded.id, customer_name = excluded.customer_name,
                    company = excluded.company, contact_phone = excluded.contact_phone, login = excluded.login,
                    password_hash = excluded.password_hash, status = 'ACTIVE', confirmed_by = NULL, confirmed_at = NULL,
                    created_at = now()
                RETURNING \(unescaped: OrderRows.accessColumns)
                """
            )
            guard let stored = try OrderRows.access(from: rows[0].makeRandomAccess()) else {
                throw StrataError(.internalError, "An inserted customer access is empty.")
            }
            return stored
        }

        func updateCustomerAccess(_ access: CustomerAccess) async throws -> CustomerAccess {
            let rows = try await query(
                """
                UPDATE workorders.customer_accesses SET status = \(access.status.rawValue), confirmed_by = \(access.confirmedBy),
                    confirmed_at = \(access.confirmedAt)
                WHERE id = \(access.id)
                RETURNING \(unescaped: OrderRows.accessColumns)
                """
            )
            guard let row = rows.first, let stored = try OrderRows.access(from: row.makeRandomAccess()) else {
                throw StrataError(.notFound, "The work order has no customer access with this id.")
            }
            return stored
        }

        func addQuickReply(ownerID: String, role: String, content: String) async throws -> QuickReply? {
            let rows = try await query(
                """
                INSERT INTO workorders.quick_replies (owner_id, role, content) VALUES (\(ownerID), \(role), \(content))
                ON CONFLICT (owner_id, content) DO NOTHING
                RETURNING id, created_at
                """
            )
            return try rows.first.map { row in
                let columns = row.makeRandomAccess()
                let (id, created) = (try columns["id"].decode(UUID.self), try columns["created_at"].decode(Date.self))
                return QuickReply(id: id, ownerID: ownerID, role: role, content: content, createdAt: created)
            }
        }

        func removeQuickReply(ownerID: String, content: String) async throws -> Bool {
            !(try await query("DELETE FROM workorders.quick_replies WHERE owner_id = \(ownerID) AND content = \(content) RETURNING id").isEmpty)
        }

        func lockLicense() async throws -> License {
            try OrderRows.license(
                from: try await query("SELECT \(unescaped: OrderRows.licenseColumns) FROM workorders.licenses WHERE id = 1 FOR UPDATE")[0]
            )
        }

        func saveLicense(_ license: License) async throws -> License {
            let rows = try await query(
                """
                UPDATE workorders.licenses SET status = \(license.status.rawValue), tier = \(license.tier?.rawValue),
                    activated_at = \(license.activatedAt), expires_at = \(license.expiresAt), suspended_at = \(license.suspendedAt),
                    suspension_reason = \(license.suspensionReason), seats = \(license.seats), ocr_credits = \(license.ocrCredits),
                    last_action_at = \(license.lastActionAt), last_action_by = \(license.lastActionBy), version = version + 1
                WHERE id = 1
                RETURNING \(unescaped: OrderRows.licenseColumns)
                """
            )
            return try OrderRows.license(from: rows[0])
        }

        func insertActivationCode(_ code: ActivationCode) async throws {
            _ = try await query(
                """
                INSERT INTO workorders.license_activation_codes (id, lookup, code_hash, tier, duration_days, purpose)
                VALUES (\(code.id), \(code.lookup), \(code.codeHash), \(code.tier.rawValue), \(code.durationDays), \(code.purpose.rawValue))
                """
            )
        }

        func lockActivationCode(lookup: String) async throws -> ActivationCode? {
            try await query(
                "SELECT \(unescaped: OrderRows.activationCodeColumns) FROM workorders.license_activation_codes WHERE lookup = \(lookup) FOR UPDATE"
            )
            .first.map(OrderRows.activationCode(from:))
        }

        func markActivationCodeUsed(_ id: UUID, by actor: String) async throws {
            _ = try await query("UPDATE workorders.license_activation_codes SET used_at = now(), used_by = \(actor) WHERE id = \(id)")
        }

        func record(_ change: Change, by caller: Caller) async throws {
            try await ChangeLog.record(change, by: caller, on: connection, logger: logger)
        }
    }
}

/// Steps to add or change, as parallel arrays for `unnest` (one statement whatever their number).
struct StepRows {
    var positions: [Int32] = []
    var codes: [String] = []
    var names: [String] = []
    var assigneeIDs: [String] = []
    var assigneeNames: [String] = []
    var expected: [Int32] = []
    var completed: [Int32] = []
    var defective: [Int32] = []
    /// Microseconds since 1970; `Int64.min` for none (arrays of optionals do not bind).
    var etas: [Int64] = []
    var statuses: [String] = []

    init(_ steps: [(position: Int, step: WorkOrderStep)]) {
        for (position, step) in steps {
            positions.append(Int32(position))
            codes.append(step.stepCode)
            names.append(step.stepName)
            assigneeIDs.append(step.assigneeID)
            assigneeNames.append(step.assigneeName)
            expected.append(Int32(clamping: step.expectedQuantity))
            completed.append(Int32(clamping: step.completedQuantity))
            defective.append(Int32(clamping: step.defectiveQuantity))
            etas.append(step.estimatedCompletionAt.map { Int64(($0.timeIntervalSince1970 * 1_000_000).rounded()) } ?? Int64.min)
            statuses.append(step.status.rawValue)
        }
    }

    /// Binds the arrays in the order of ``OrderRows/upsertSteps(order:firstArray:)``.
    func appendBindings(to bindings: inout PostgresBindings) {
        bindings.append(positions)
        bindings.append(codes)
        bindings.append(names)
        bindings.append(assigneeIDs)
        bindings.append(assigneeNames)
        bindings.append(expected)
        bindings.append(completed)
        bindings.append(defective)
        bindings.append(etas)
        bindings.append(statuses)
    }
}

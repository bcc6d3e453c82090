import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres

/// The SQL that reads the app's rows, and their decoding, in one place.
enum OrderRows {
    /// An order with its steps (JSON, in position order) and its customer access, its keyset
    /// position, and last the version its statement's snapshot sees (``snapshotVersionColumn``).
    /// Followed by `WHERE …`.
    static let select = """
        SELECT o.id, o.code, o.title, o.description, o.priority, o.status, o.owner_id, o.owner_name, o.watchers,
               o.start_at, o.end_at, o.target_quantity, o.completed_quantity, o.defective_quantity,
               o.procurement_auto_notify, o.target_factory_id, o.target_factory_name, o.version, o.created_at, o.updated_at,
               coalesce(st.codes, '{}') AS step_codes, coalesce(st.names, '{}') AS step_names,
               coalesce(st.assignee_ids, '{}') AS step_assignee_ids, coalesce(st.assignee_names, '{}') AS step_assignee_names,
               coalesce(st.expected, '{}') AS step_expected, coalesce(st.completed, '{}') AS step_completed,
               coalesce(st.defective, '{}') AS step_defective, coalesce(st.etas, '{}') AS step_etas,
               coalesce(st.statuses, '{}') AS step_statuses,
               a.id AS access_id, a.work_order_id AS access_work_order_id, a.customer_name AS access_customer_name,
               a.company AS access_company, a.contact_phone AS access_contact_phone, a.login AS access_login,
               a.status AS access_status, a.confirmed_by AS access_confirmed_by, a.created_at AS access_created_at,
               a.confirmed_at AS access_confirmed_at,
               (extract(epoch FROM o.created_at) * 1000000)::bigint AS position,
               (SELECT v.version FROM workorders.work_orders AS v WHERE v.id = o.id) AS snapshot_version
        FROM workorders.work_orders AS o
        LEFT JOIN LATERAL (
            SELECT array_agg(s.step_code ORDER BY s.position) AS codes, array_agg(s.step_name ORDER BY s.position) AS names,
                   array_agg(s.assignee_id ORDER BY s.position) AS assignee_ids,
                   array_agg(s.assignee_name ORDER BY s.position) AS assignee_names,
                   array_agg(s.expected_quantity ORDER BY s.position) AS expected,
                   array_agg(s.completed_quantity ORDER BY s.position) AS completed,
                   array_agg(s.defective_quantity ORDER BY s.position) AS defective,
                   array_agg(coalesce((extract(epoch FROM s.estimated_completion_at) * 1000000)::bigint, '-9223372036854775808'::bigint) ORDER BY s.position) AS etas,
                   array_agg(s.status ORDER BY s.position) AS statuses
            FROM workorders.work_order_steps AS s WHERE s.work_order_id = o.id
        ) AS st ON true
        LEFT JOIN workorders.customer_accesses AS a ON a.work_order_id = o.id
        """

    /// One order by id, prepared (planning ``select``'s lateral join costs more than running it).
    struct ByID: PreparedLookup {
        static let name = "workorders.ByID"
        static let sql = select + " WHERE o.id = $1"
        var key: UUID
    }

    /// One order by id, locked for update (``ByID`` with `FOR UPDATE OF o`).
    struct LockByID: PreparedLookup {
        static let name = "workorders.LockByID"
        static let sql = ByID.sql + " FOR UPDATE OF o"
        var key: UUID
    }

    /// The column of ``select`` with the order's version as the statement's snapshot saw it. With
    /// `FOR UPDATE`, a statement that waited for the lock returns the locked row as it is now but
    /// evaluates its subqueries (the steps) in its older snapshot: the two versions differ then.
    static let snapshotVersionColumn = "snapshot_version"

    /// What lists show: the order's columns, its access's status, and the keyset position last.
    static let selectSummary = """
        SELECT o.id, o.code, o.title, o.priority, o.status, o.owner_id, o.owner_name, o.watchers, o.start_at, o.end_at,
               o.target_quantity, o.completed_quantity, o.defective_quantity, a.status AS access_status, o.version, o.created_at,
               o.updated_at, (extract(epoch FROM o.created_at) * 1000000)::bigint AS position
        FROM workorders.work_orders AS o LEFT JOIN workorders.customer_accesses AS a ON a.work_order_id = o.id
        """

    /// `s AS (INSERT … SELECT … FROM unnest(…) ON CONFLICT (work_order_id, step_code) DO UPDATE …)`:
    /// the steps added or changed (``StepRows``, ten arrays from `$firstArray`) of the order
    /// `$order`, as a data-modifying CTE (no rows for no steps).
    static func upsertSteps(order: Int, firstArray: Int) -> String {
        let p = (firstArray..<(firstArray + 10)).map { "$\($0)" }
        return """
            s AS (
                INSERT INTO workorders.work_order_steps (work_order_id, position, step_code, step_name, assignee_id, assignee_name,
                    expected_quantity, completed_quantity, defective_quantity, estimated_completion_at, status)
                SELECT $\(order), t.position::smallint, t.code, t.name, t.assignee_id, t.assignee_name, t.expected, t.completed, t.defective,
                       CASE WHEN t.eta = '-9223372036854775808'::bigint THEN NULL ELSE timestamptz 'epoch' + t.eta * interval '1 microsecond' END,
                       t.status
                FROM unnest(\(p[0])::int[], \(p[1])::text[], \(p[2])::text[], \(p[3])::text[], \(p[4])::text[], \(p[5])::int[],
                            \(p[6])::int[], \(p[7])::int[], \(p[8])::bigint[], \(p[9])::text[])
                     AS t(position, code, name, assignee_id, assignee_name, expected, completed, defective, eta, status)
                ON CONFLICT (work_order_id, step_code) DO UPDATE SET step_name = excluded.step_name,
                    assignee_id = excluded.assignee_id, assignee_name = excluded.assignee_name,
                    expected_quantity = excluded.expected_quantity, completed_quantity = excluded.completed_quantity,
                    defective_quantity = excluded.defective_quantity, estimated_completion_at = excluded.estimated_completion_at,
                    status = excluded.status
                RETURNING 1
            )
            """
    }

    /// The parameters ``InsertOrder`` and ``UpdateOrder`` share: `$1` the id, `$2`…`$17` the
    /// order's columns in ``orderColumns``' order, `$18`… the steps' arrays.
    static let orderColumns = """
        code, title, description, priority, status, owner_id, owner_name, watchers, start_at, end_at, target_quantity,
        completed_quantity, defective_quantity, procurement_auto_notify, target_factory_id, target_factory_name
        """
    static let orderBindingTypes: [PostgresDataType] =
        [.uuid, .text, .text, .text, .text, .text, .text, .text, .textArray, .timestamptz, .timestamptz, .int4, .int4, .int4, .bool, .text, .text]
        + [.int4Array, .textArray, .textArray, .textArray, .textArray, .int4Array, .int4Array, .int4Array, .int8Array, .textArray]

    static func orderBindings(_ order: WorkOrder, _ steps: StepRows) -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 27)
        bindings.append(order.id)
        bindings.append(order.code)
        bindings.append(order.title)
        bindings.append(order.description)
        bindings.append(order.priority.rawValue)
        bindings.append(order.status.rawValue)
        bindings.append(order.ownerID)
        bindings.append(order.ownerName)
        bindings.append(order.watchers)
        bindings.append(order.startAt)
        bindings.append(order.endAt)
        bindings.append(Int32(clamping: order.targetQuantity))
        bindings.append(Int32(clamping: order.completedQuantity))
        bindings.append(Int32(clamping: order.defectiveQuantity))
        bindings.append(order.procurement.autoNotify)
        bindings.append(order.procurement.targetFactoryID)
        bindings.append(order.procurement.targetFactoryName)
        steps.appendBindings(to: &bindings)
        return bindings
    }

    /// A statement that writes an order and its steps with ``orderBindings(_:_:)``.
    protocol OrderWrite: PostgresPreparedStatement where Row == PostgresRow {
        var order: WorkOrder { get }
        var steps: StepRows { get }
    }

    /// A new order and its steps in one prepared statement (the steps' foreign keys are checked
    /// at its end, when the order row is there). Returns version, created_at, updated_at.
    struct InsertOrder: OrderWrite {
        static let name = "workorders.InsertOrder"
        static let sql = """
            WITH o AS (
                INSERT INTO workorders.work_orders (id, \(orderColumns))
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
                RETURNING version, created_at, updated_at
            ), \(upsertSteps(order: 1, firstArray: 18))
            SELECT version, created_at, updated_at FROM o
            """
        var order: WorkOrder
        var steps: StepRows
    }

    /// An order's row (its version bumped) and its changed steps in one prepared statement.
    /// Returns version, updated_at; no row when the order is gone.
    struct UpdateOrder: OrderWrite {
        static let name = "workorders.UpdateOrder"
        static let sql = """
            WITH o AS (
                UPDATE workorders.work_orders SET (\(orderColumns)) = ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17),
                    version = version + 1
                WHERE id = $1
                RETURNING version, updated_at
            ), \(upsertSteps(order: 1, firstArray: 18))
            SELECT version, updated_at FROM o
            """
        var order: WorkOrder
        var steps: StepRows
    }

    /// The newest orders without filters, prepared: the list everyone opens first is planned
    /// once per connection rather than on every request. Filtered lists are built per filter.
    struct NewestSummaries: PostgresPreparedStatement {
        static let name = "workorders.NewestSummaries"
        static let sql = selectSummary + " ORDER BY o.created_at DESC, o.id DESC LIMIT $1"
        typealias Row = PostgresRow
        var limit: Int

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(Int64(limit))
            return bindings
        }
    }

    /// The next unfiltered page after a keyset position (``NewestSummaries`` continued).
    struct NewestSummariesAfter: PostgresPreparedStatement {
        static let name = "workorders.NewestSummariesAfter"
        static let sql =
            selectSummary + """
                 WHERE (o.created_at, o.id) < (timestamptz 'epoch' + $1 * interval '1 microsecond', $2)
                ORDER BY o.created_at DESC, o.id DESC LIMIT $3
                """
        static let bindingDataTypes: [PostgresDataType] = [.int8, .uuid, .int8]
        typealias Row = PostgresRow
        var micros: Int64
        var id: UUID
        var limit: Int

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 3)
            bindings.append(micros)
            bindings.append(id)
            bindings.append(Int64(limit))
            return bindings
        }
    }

    static func summary(from row: PostgresRow) throws -> WorkOrderSummary {
        let c = row.makeRandomAccess()
        var summary = WorkOrderSummary(try listedOrder(from: c))
        summary.customerAccessStatus = try c["access_status"].decode(String?.self).flatMap(CustomerAccess.Status.init(rawValue:))
        return summary
    }

    static func order(from row: PostgresRow) throws -> WorkOrder {
        let c = row.makeRandomAccess()
        var order = try listedOrder(from: c)
        order.description = try c["description"].decode(String.self)
        order.procurement = .init(
            autoNotify: try c["procurement_auto_notify"].decode(Bool.self),
            targetFactoryID: try c["target_factory_id"].decode(String?.self),
            targetFactoryName: try c["target_factory_name"].decode(String?.self)
        )
        order.steps = try steps(from: c)
        order.customerAccess = try access(from: c)
        return order
    }

    /// The order's own columns that both ``select`` and ``selectSummary`` read.
    private static func listedOrder(from c: PostgresRandomAccessRow) throws -> WorkOrder {
        guard let priority = WorkOrderPriority(rawValue: try c["priority"].decode(String.self)),
            let status = WorkOrderStatus(rawValue: try c["status"].decode(String.self))
        else { throw StrataError(.internalError, "A work order row holds an unknown priority or status.") }
        return WorkOrder(
            id: try c["id"].decode(UUID.self),
            code: try c["code"].decode(String.self),
            title: try c["title"].decode(String.self),
            priority: priority,
            status: status,
            ownerID: try c["owner_id"].decode(String.self),
            ownerName: try c["owner_name"].decode(String.self),
            watchers: try c["watchers"].decode([String].self),
            startAt: try c["start_at"].decode(Date?.self),
            endAt: try c["end_at"].decode(Date?.self),
            targetQuantity: Int(try c["target_quantity"].decode(Int32.self)),
            completedQuantity: Int(try c["completed_quantity"].decode(Int32.self)),
            defectiveQuantity: Int(try c["defective_quantity"].decode(Int32.self)),
            version: try c["version"].decode(Int64.self),
            createdAt: try c["created_at"].decode(Date.self),
            updatedAt: try c["updated_at"].decode(Date.self)
        )
    }

    /// Steps from the nine parallel `step_*` arrays of ``select`` (an estimated completion of
    /// `Int64.min` is none).
    static func steps(from c: PostgresRandomAccessRow) throws -> [WorkOrderStep] {
        let codes = try c["step_codes"].decode([String].self)
        let names = try c["step_names"].decode([String].self)
        let assigneeIDs = try c["step_assignee_ids"].decode([String].self)
        let assigneeNames = try c["step_assignee_names"].decode([String].self)
        let expected = try c["step_expected"].decode([Int32].self)
        let completed = try c["step_completed"].decode([Int32].self)
        let defective = try c["step_defective"].decode([Int32].self)
        let etas = try c["step_etas"].decode([Int64].self)
        let statuses = try c["step_statuses"].decode([String].self)
        return try codes.indices.map { index in
            guard let status = WorkOrderStepStatus(rawValue: statuses[index]) else {
                throw StrataError(.internalError, "A work order step row holds an unknown status.")
            }
            return WorkOrderStep(
                stepCode: codes[index],
                stepName: names[index],
                assigneeID: assigneeIDs[index],
                assigneeName: assigneeNames[index],
                expectedQuantity: Int(expected[index]),
                completedQuantity: Int(completed[index]),
                defectiveQuantity: Int(defective[index]),
                estimatedCompletionAt: etas[index] == Int64.min ? nil : Date(timeIntervalSince1970: Double(etas[index]) / 1_000_000),
                status: status
            )
        }
    }

    /// A customer access's columns of `customer_accesses`, named as ``access(from:)`` reads them.
    static let accessColumns = """
        id AS access_id, work_order_id AS access_work_order_id, customer_name AS access_customer_name, company AS access_company,
        contact_phone AS access_contact_phone, login AS access_login, status AS access_status, confirmed_by AS access_confirmed_by,
        created_at AS access_created_at, confirmed_at AS access_confirmed_at
        """

    /// The access in the `access_*` columns, `nil` when they are NULL (no access).
    static func access(from c: PostgresRandomAccessRow) throws -> CustomerAccess? {
        guard let id = try c["access_id"].decode(UUID?.self) else { return nil }
        guard let status = CustomerAccess.Status(rawValue: try c["access_status"].decode(String.self)) else {
            throw StrataError(.internalError, "A customer access row holds an unknown status.")
        }
        return CustomerAccess(
            id: id,
            workOrderID: try c["access_work_order_id"].decode(UUID.self),
            customerName: try c["access_customer_name"].decode(String.self),
            company: try c["access_company"].decode(String?.self),
            contactPhone: try c["access_contact_phone"].decode(String?.self),
            login: try c["access_login"].decode(String.self),
            status: status,
            confirmedBy: try c["access_confirmed_by"].decode(String?.self),
            createdAt: try c["access_created_at"].decode(Date.self),
            confirmedAt: try c["access_confirmed_at"].decode(Date?.self)
        )
    }

    static let progressColumns = """
        id, work_order_id, step_code, completed_quantity, defective_quantity, reported_quantity, confirmation_mode, confirmed_by,
        reporter, note, confirmed_at
        """

    /// A progress report from the ``progressColumns`` of a row, by name.
    static func progress(from row: PostgresRow) throws -> ProgressLog {
        let c = row.makeRandomAccess()
        let (id, order, step) = (try c["id"].decode(Int64.self), try c["work_order_id"].decode(UUID.self), try c["step_code"].decode(String.self))
        let (completed, defective, reported) = (
            try c["completed_quantity"].decode(Int32.self), try c["defective_quantity"].decode(Int32.self),
            try c["reported_quantity"].decode(Int32.self)
        )
        let (mode, people) = (try c["confirmation_mode"].decode(String.self), try c["confirmed_by"].decode([String].self))
        let (reporter, note, at) = (
            try c["reporter"].decode(String?.self), try c["note"].decode(String?.self), try c["confirmed_at"].decode(Date.self)
        )
        guard let mode = ProgressReport.ConfirmationMode(rawValue: mode) else {
            throw StrataError(.internalError, "A progress row holds an unknown confirmation mode.")
        }
        return ProgressLog(
            id: id,
            workOrderID: order,
            stepCode: step,
            completedQuantity: Int(completed),
            defectiveQuantity: Int(defective),
            reportedQuantity: Int(reported),
            confirmationMode: mode,
            confirmedBy: people,
            reporter: reporter,
            note: note,
            confirmedAt: at
        )
    }

    /// A progress report applied (``WorkOrder/apply(_:toStep:)``) in one statement, prepared (it
    /// runs with every report): the order's status and totals with its version bumped, the
    /// step's quantities and status, and the report; returns the order's version and
    /// `updated_at` (`order_version`, `order_updated_at`), then the report (``progressColumns``).
    struct RecordProgress: PostgresPreparedStatement {
        static let name = "workorders.RecordProgress"
        static let sql = """
            WITH o AS (
                UPDATE workorders.work_orders SET status = $2, completed_quantity = $3, defective_quantity = $4, version = version + 1
                WHERE id = $1
                RETURNING version, updated_at
            ), s AS (
                UPDATE workorders.work_order_steps SET completed_quantity = $6, defective_quantity = $7, status = $8
                WHERE work_order_id = $1 AND step_code = $5
            ), p AS (
                INSERT INTO workorders.work_order_progress_logs (work_order_id, step_code, completed_quantity, defective_quantity,
                    reported_quantity, confirmation_mode, confirmed_by, reporter, note)
                VALUES ($1, $5, $9, $10, $11, $12, $13, $14, $15)
                RETURNING \(progressColumns)
            )
            SELECT o.version AS order_version, o.updated_at AS order_updated_at, p.* FROM o, p
            """
        static let bindingDataTypes: [PostgresDataType] = [
            .uuid, .text, .int4, .int4, .text, .int4, .int4, .text, .int4, .int4, .int4, .text, .textArray, .text, .text,
        ]
        typealias Row = PostgresRow
        var order: WorkOrder
        var step: WorkOrderStep
        var log: ProgressLog

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 15)
            bindings.append(order.id)
            bindings.append(order.status.rawValue)
            bindings.append(Int32(clamping: order.completedQuantity))
            bindings.append(Int32(clamping: order.defectiveQuantity))
            bindings.append(step.stepCode)
            bindings.append(Int32(clamping: step.completedQuantity))
            bindings.append(Int32(clamping: step.defectiveQuantity))
            bindings.append(step.status.rawValue)
            bindings.append(Int32(clamping: log.completedQuantity))
            bindings.append(Int32(clamping: log.defectiveQuantity))
            bindings.append(Int32(clamping: log.reportedQuantity))
            bindings.append(log.confirmationMode.rawValue)
            bindings.append(log.confirmedBy)
            bindings.append(log.reporter)
            bindings.append(log.note)
            return bindings
        }
    }

    static let messageColumns =
        "id, work_order_id, message_type, role, body, object_key, file_name, content_type, file_size, payload::text AS payload, created_by, created_at"

    static func message(from row: PostgresRow) throws -> WorkOrderMessage {
        let c = row.makeRandomAccess()
        guard let kind = WorkOrderMessage.Kind(rawValue: try c["message_type"].decode(String.self)),
            let role = WorkOrderMessage.Role(rawValue: try c["role"].decode(String.self))
        else {
            throw StrataError(.internalError, "A message row holds an unknown type or role.")
        }
        let (name, contentType, size) = (
            try c["file_name"].decode(String?.self), try c["content_type"].decode(String?.self), try c["file_size"].decode(Int64?.self)
        )
        let file = try c["object_key"].decode(String?.self).map {
            WorkOrderMessage.File(objectKey: $0, fileName: name ?? "", contentType: contentType ?? "", size: size ?? 0)
        }
        return WorkOrderMessage(
            id: try c["id"].decode(Int64.self),
            workOrderID: try c["work_order_id"].decode(UUID.self),
            kind: kind,
            role: role,
            body: try c["body"].decode(String.self),
            file: file,
            payload: try JSONValue(parsing: c["payload"].decode(String.self)),
            createdBy: try c["created_by"].decode(String.self),
            createdAt: try c["created_at"].decode(Date.self)
        )
    }

    static let licenseColumns = """
        status, tier, activated_at, expires_at, suspended_at, suspension_reason, seats, ocr_credits, last_action_at, last_action_by, version
        """

    static func license(from row: PostgresRow) throws -> License {
        let c = row.makeRandomAccess()
        guard let status = License.Status(rawValue: try c["status"].decode(String.self)) else {
            throw StrataError(.internalError, "The licence row holds an unknown status.")
        }
        return License(
            status: status,
            tier: try c["tier"].decode(String?.self).flatMap(LicenseTier.init(rawValue:)),
            activatedAt: try c["activated_at"].decode(Date?.self),
            expiresAt: try c["expires_at"].decode(Date?.self),
            suspendedAt: try c["suspended_at"].decode(Date?.self),
            suspensionReason: try c["suspension_reason"].decode(String?.self),
            seats: try c["seats"].decode(Int32?.self).map(Int.init),
            ocrCredits: try c["ocr_credits"].decode(Int32?.self).map(Int.init),
            lastActionAt: try c["last_action_at"].decode(Date?.self),
            lastActionBy: try c["last_action_by"].decode(String?.self),
            version: try c["version"].decode(Int64.self)
        )
    }

    static let activationCodeColumns = "id, lookup, code_hash, tier, duration_days, purpose, used_at"

    static func activationCode(from row: PostgresRow) throws -> ActivationCode {
        let c = row.makeRandomAccess()
        guard let tier = LicenseTier(rawValue: try c["tier"].decode(String.self)),
            let purpose = ActivationCode.Purpose(rawValue: try c["purpose"].decode(String.self))
        else {
            throw StrataError(.internalError, "An activation code row holds an unknown tier or purpose.")
        }
        return ActivationCode(
            id: try c["id"].decode(UUID.self),
            lookup: try c["lookup"].decode(String.self),
            codeHash: try c["code_hash"].decode(String.self),
            tier: tier,
            durationDays: Int(try c["duration_days"].decode(Int32.self)),
            purpose: purpose,
            usedAt: try c["used_at"].decode(Date?.self)
        )
    }
}

extension OrderRows.OrderWrite {
    static var bindingDataTypes: [PostgresDataType] { OrderRows.orderBindingTypes }

    func makeBindings() throws -> PostgresBindings { OrderRows.orderBindings(order, steps) }
}

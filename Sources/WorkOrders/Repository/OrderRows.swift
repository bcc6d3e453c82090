import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres

/// The SQL that reads the app's rows, and their decoding, in one place.
enum OrderRows {
    /// An order with its steps (JSON, in position order) and its customer access, and the list's
    /// keyset position last. Followed by `WHERE …`.
    static let select = """
        SELECT o.id, o.code, o.title, o.description, o.priority, o.status, o.owner_id, o.owner_name, o.watchers,
               o.start_at, o.end_at, o.target_quantity, o.completed_quantity, o.defective_quantity,
               o.procurement_auto_notify, o.target_factory_id, o.target_factory_name, o.version, o.created_at, o.updated_at,
               (SELECT coalesce(json_agg(json_build_array(s.step_code, s.step_name, s.assignee_id, s.assignee_name,
                        s.expected_quantity, s.completed_quantity, s.defective_quantity,
                        (extract(epoch FROM s.estimated_completion_at) * 1000000)::bigint, s.status) ORDER BY s.position), '[]')::text
                FROM workorders.work_order_steps AS s WHERE s.work_order_id = o.id),
               a.id, a.work_order_id, a.customer_name, a.company, a.contact_phone, a.login, a.status, a.confirmed_by, a.created_at,
               a.confirmed_at,
               (extract(epoch FROM o.created_at) * 1000000)::bigint
        FROM workorders.work_orders AS o LEFT JOIN workorders.customer_accesses AS a ON a.work_order_id = o.id
        """

    /// What lists show: the order's columns, its access's status, and the keyset position last.
    static let selectSummary = """
        SELECT o.id, o.code, o.title, o.priority, o.status, o.owner_id, o.owner_name, o.watchers, o.start_at, o.end_at,
               o.target_quantity, o.completed_quantity, o.defective_quantity, a.status, o.version, o.created_at, o.updated_at,
               (extract(epoch FROM o.created_at) * 1000000)::bigint
        FROM workorders.work_orders AS o LEFT JOIN workorders.customer_accesses AS a ON a.work_order_id = o.id
        """

    static func summary(from row: PostgresRow) throws -> WorkOrderSummary {
        let c = row.makeRandomAccess()
        guard let priority = WorkOrderPriority(rawValue: try c[3].decode(String.self)),
            let status = WorkOrderStatus(rawValue: try c[4].decode(String.self))
        else { throw StrataError(.internalError, "A work order row holds an unknown priority or status.") }
        var order = WorkOrder(
            id: try c[0].decode(UUID.self),
            code: try c[1].decode(String.self),
            title: try c[2].decode(String.self),
            priority: priority,
            status: status,
            ownerID: try c[5].decode(String.self),
            ownerName: try c[6].decode(String.self),
            watchers: try c[7].decode([String].self),
            startAt: try c[8].decode(Date?.self),
            endAt: try c[9].decode(Date?.self),
            targetQuantity: Int(try c[10].decode(Int32.self)),
            completedQuantity: Int(try c[11].decode(Int32.self)),
            defectiveQuantity: Int(try c[12].decode(Int32.self)),
            version: try c[14].decode(Int64.self),
            createdAt: try c[15].decode(Date.self),
            updatedAt: try c[16].decode(Date.self)
        )
        order.customerAccess = nil
        var summary = WorkOrderSummary(order)
        summary.customerAccessStatus = try c[13].decode(String?.self).flatMap(CustomerAccess.Status.init(rawValue:))
        return summary
    }

    static func order(from row: PostgresRow) throws -> WorkOrder {
        let c = row.makeRandomAccess()
        guard let priority = WorkOrderPriority(rawValue: try c[4].decode(String.self)),
            let status = WorkOrderStatus(rawValue: try c[5].decode(String.self))
        else { throw StrataError(.internalError, "A work order row holds an unknown priority or status.") }
        return WorkOrder(
            id: try c[0].decode(UUID.self),
            code: try c[1].decode(String.self),
            title: try c[2].decode(String.self),
            description: try c[3].decode(String.self),
            priority: priority,
            status: status,
            ownerID: try c[6].decode(String.self),
            ownerName: try c[7].decode(String.self),
            watchers: try c[8].decode([String].self),
            startAt: try c[9].decode(Date?.self),
            endAt: try c[10].decode(Date?.self),
            targetQuantity: Int(try c[11].decode(Int32.self)),
            completedQuantity: Int(try c[12].decode(Int32.self)),
            defectiveQuantity: Int(try c[13].decode(Int32.self)),
            procurement: .init(
                autoNotify: try c[14].decode(Bool.self),
                targetFactoryID: try c[15].decode(String?.self),
                targetFactoryName: try c[16].decode(String?.self)
            ),
            steps: try steps(fromJSON: try c[20].decode(String.self)),
            customerAccess: try access(from: c, at: 21),
            version: try c[17].decode(Int64.self),
            createdAt: try c[18].decode(Date.self),
            updatedAt: try c[19].decode(Date.self)
        )
    }

    /// Steps from the `json_build_array` rows of ``select``.
    static func steps(fromJSON text: String) throws -> [WorkOrderStep] {
        guard case .array(let rows) = try JSONValue(parsing: text) else { return [] }
        return try rows.map { value in
            guard case .array(let f) = value, f.count == 9, let code = f[0].stringValue, let name = f[1].stringValue,
                let status = f[8].stringValue.flatMap(WorkOrderStepStatus.init(rawValue:))
            else { throw StrataError(.internalError, "A work order step row cannot be read.") }
            return WorkOrderStep(
                stepCode: code,
                stepName: name,
                assigneeID: f[2].stringValue ?? "",
                assigneeName: f[3].stringValue ?? "",
                expectedQuantity: Int(f[4].numberValue ?? 0),
                completedQuantity: Int(f[5].numberValue ?? 0),
                defectiveQuantity: Int(f[6].numberValue ?? 0),
                estimatedCompletionAt: f[7].numberValue.map { Date(timeIntervalSince1970: $0 / 1_000_000) },
                status: status
            )
        }
    }

    static let accessColumns =
        "id, work_order_id, customer_name, company, contact_phone, login, status, confirmed_by, created_at, confirmed_at"
    static let accessColumnCount = 10

    /// The access in the ten columns from `start`, `nil` when they are NULL (no access).
    static func access(from c: PostgresRandomAccessRow, at start: Int) throws -> CustomerAccess? {
        guard let id = try c[start].decode(UUID?.self) else { return nil }
        guard let status = CustomerAccess.Status(rawValue: try c[start + 6].decode(String.self)) else {
            throw StrataError(.internalError, "A customer access row holds an unknown status.")
        }
        return CustomerAccess(
            id: id,
            workOrderID: try c[start + 1].decode(UUID.self),
            customerName: try c[start + 2].decode(String.self),
            company: try c[start + 3].decode(String?.self),
            contactPhone: try c[start + 4].decode(String?.self),
            login: try c[start + 5].decode(String.self),
            status: status,
            confirmedBy: try c[start + 7].decode(String?.self),
            createdAt: try c[start + 8].decode(Date.self),
            confirmedAt: try c[start + 9].decode(Date?.self)
        )
    }

    static let progressColumns = """
        id, work_order_id, step_code, completed_quantity, defective_quantity, reported_quantity, confirmation_mode, confirmed_by,
        reporter, note, confirmed_at
        """

    static func progress(from row: PostgresRow) throws -> ProgressLog {
        let (id, order, step, completed, defective, reported, mode, people, reporter, note, at) = try row.decode(
            (Int64, UUID, String, Int32, Int32, Int32, String, [String], String?, String?, Date).self
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

    static let messageColumns =
        "id, work_order_id, message_type, role, body, object_key, file_name, content_type, file_size, payload::text, created_by, created_at"

    static func message(from row: PostgresRow) throws -> WorkOrderMessage {
        let (id, order, type, role, body, key, name, contentType, size, payload, author, at) = try row.decode(
            (Int64, UUID, String, String, String, String?, String?, String?, Int64?, String, String, Date).self
        )
        guard let kind = WorkOrderMessage.Kind(rawValue: type), let role = WorkOrderMessage.Role(rawValue: role) else {
            throw StrataError(.internalError, "A message row holds an unknown type or role.")
        }
        let file = key.map { WorkOrderMessage.File(objectKey: $0, fileName: name ?? "", contentType: contentType ?? "", size: size ?? 0) }
        return WorkOrderMessage(
            id: id,
            workOrderID: order,
            kind: kind,
            role: role,
            body: body,
            file: file,
            payload: try JSONValue(parsing: payload),
            createdBy: author,
            createdAt: at
        )
    }

    static let licenseColumns = """
        status, tier, activated_at, expires_at, suspended_at, suspension_reason, seats, ocr_credits, last_action_at, last_action_by, version
        """

    static func license(from row: PostgresRow) throws -> License {
        let (status, tier, activated, expires, suspended, reason, seats, credits, actionAt, actionBy, version) = try row.decode(
            (String, String?, Date?, Date?, Date?, String?, Int32?, Int32?, Date?, String?, Int64).self
        )
        guard let status = License.Status(rawValue: status) else { throw StrataError(.internalError, "The licence row holds an unknown status.") }
        return License(
            status: status,
            tier: tier.flatMap(LicenseTier.init(rawValue:)),
            activatedAt: activated,
            expiresAt: expires,
            suspendedAt: suspended,
            suspensionReason: reason,
            seats: seats.map(Int.init),
            ocrCredits: credits.map(Int.init),
            lastActionAt: actionAt,
            lastActionBy: actionBy,
            version: version
        )
    }
}

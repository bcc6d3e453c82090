import Foundation
public import Hummingbird
import StrataCore
public import StrataHTTP

/// `/api/workorders/...`: orders, their steps' progress, messages, customer access, quick
/// replies and the licence. Reads need `workorders.read`, changes `workorders.write`, the
/// licence's changes `workorders.admin`. A signed-in customer reads only their own order and
/// may post messages on it (`workorders.chat`).
public struct WorkOrdersController: Sendable {
    let service: WorkOrdersService

    public init(service: WorkOrdersService) {
        self.service = service
    }

    struct StatusChange: Decodable {
        var status: String
        var reason: String?
    }

    struct Confirmation: Decodable {
        var confirmedBy: String?
        enum CodingKeys: String, CodingKey { case confirmedBy = "confirmed_by" }
    }

    struct ReadMarker: Decodable {
        var reader: String
        var lastReadID: Int64
        enum CodingKeys: String, CodingKey {
            case reader
            case lastReadID = "last_read_id"
        }
    }

    struct Phrases: Decodable {
        var phrases: [String]
        var role: String?
    }

    struct Progress: ResponseEncodable, JSONWritable {
        var order: WorkOrder
        var progress: ProgressLog

        func write(to json: inout JSONWriter) {
            json.object { json in
                json.field("order", order)
                json.field("progress", progress)
            }
        }
    }

    struct Unread: ResponseEncodable {
        var reader: String
        var counts: [String: Int]
        var total: Int
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let orders = router.group("/api/workorders/orders")
        orders.get { request, context in
            let scope = try Self.readScope(context)
            var query = QueryReader(request)
            let filter = WorkOrderFilter(
                status: query.choice("status", of: WorkOrderStatus.self),
                priority: query.choice("priority", of: WorkOrderPriority.self),
                ownerID: query.text("owner_id", length: 1...64)
            )
            let page = query.page()
            try query.validate()
            return Response.json(try await service.orders(filter, limit: page.limit, cursor: page.cursor, scope: scope))
        }
        orders.post { request, context in
            let caller = try context.caller(requiring: "workorders.write")
            let draft = try await request.decodeJSON(as: WorkOrderDraft.self, context: context)
            let order = try await service.create(draft, by: caller)
            var response = Response.json(order, status: .created)
            response.headers[.eTag] = ETag.value(version: order.version)
            response.headers[.location] = "/api/workorders/orders/\(order.id.uuidString)"
            return response
        }
        orders.get("{id}") { _, context in
            // The cached JSON is the response body: a hit costs no decoding and no encoding.
            let (json, version) = try await service.orderJSON(try Self.orderID(context), scope: try Self.readScope(context))
            var response = Response.json(bytes: json)
            response.headers[.eTag] = ETag.value(version: version)
            return response
        }
        orders.patch("{id}") { request, context in
            // The order's id (404), then the body (400, 422), then the precondition (428, 412).
            let caller = try context.caller(requiring: "workorders.write")
            let id = try Self.orderID(context)
            let patch = try await request.decodeJSON(as: WorkOrderPatch.self, context: context)
            try service.validate(patch)
            let version = try ETag.requiredVersion(request)
            return Self.withETag(try await service.update(id, patch, ifVersion: version, by: caller))
        }
        orders.delete("{id}") { request, context -> Response in
            let caller = try context.caller(requiring: "workorders.write")
            let id = try Self.orderID(context)
            let version = try ETag.requiredVersion(request)
            try await service.delete(id, ifVersion: version, by: caller)
            return Response(status: .noContent)
        }
        orders.patch("{id}/status") { request, context in
            let caller = try context.caller(requiring: "workorders.write")
            let id = try Self.orderID(context)
            let change = try await request.decodeJSON(as: StatusChange.self, context: context)
            guard let status = WorkOrderStatus(rawValue: change.status.uppercased()) else {
                throw StrataError.validation([
                    .init(field: "status", reason: "must be one of \(WorkOrderStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                ])
            }
            try WorkOrdersService.validateReason(change.reason)
            let version = try ETag.version(in: request)
            let order = try await service.changeStatus(id, to: status, ifVersion: version, reason: change.reason, by: caller)
            return Self.withETag(order)
        }
        orders.post("{id}/steps/{step_code}/progress") { request, context in
            let caller = try context.caller(requiring: "workorders.write")
            let report = try await request.decodeJSON(as: ProgressReport.self, context: context)
            let step = try context.parameters.require("step_code")
            let (order, log) = try await service.recordProgress(try Self.orderID(context), step: step, report, by: caller)
            var response = Response.json(Progress(order: order, progress: log), status: .created)
            response.headers[.eTag] = ETag.value(version: order.version)
            return response
        }
        orders.get("{id}/status-history") { _, context in
            let scope = try Self.readScope(context)
            return try Response.json(Page.complete(try await service.statusHistory(of: try Self.orderID(context), scope: scope)))
        }
        orders.get("{id}/progress") { request, context in
            let scope = try Self.readScope(context)
            let (after, limit) = try Self.afterAndLimit(request)
            let logs = try await service.progressLogs(of: try Self.orderID(context), afterID: after, limit: limit, scope: scope)
            return Response.json(Page.byPosition(logs, limit: limit, position: \.id))
        }
        orders.post("{id}/customer-access") { request, context in
            let caller = try context.caller(requiring: "workorders.write")
            let draft = try await request.decodeJSON(as: WorkOrdersService.CustomerAccessDraft.self, context: context)
            return try Response.json(try await service.createCustomerAccess(draft, on: try Self.orderID(context), by: caller), status: .created)
        }
        orders.post("{id}/customer-access/{access_id}/confirm") { request, context in
            let caller = try context.caller(requiring: "workorders.write")
            let body = try await request.decodeJSONIfPresent(as: Confirmation.self, context: context)
            guard let accessID = UUID(uuidString: try context.parameters.require("access_id")) else {
                throw StrataError(.notFound, "The work order has no customer access with this id.")
            }
            let access = try await service.confirmCustomerAccess(accessID, on: try Self.orderID(context), confirmedBy: body?.confirmedBy, by: caller)
            return Response.json(access)
        }
        orders.get("{id}/messages") { request, context in
            let scope = try Self.readScope(context)
            let (after, limit) = try Self.afterAndLimit(request)
            let messages = try await service.messages(of: try Self.orderID(context), afterID: after, limit: limit, scope: scope)
            return try Response.json(Page.byPosition(messages, limit: limit, position: \.id))
        }
        orders.post("{id}/messages") { request, context in
            let principal = try context.requirePermission("workorders.read")
            let isCustomer = principal.scopeValues(WorkOrdersModule.orderScope) != nil && !principal.has("workorders.write")
            if !isCustomer { try principal.require("workorders.write") } else { try principal.require("workorders.chat") }
            let caller = try context.caller(requiring: "workorders.read")
            let draft = try await request.decodeJSON(as: WorkOrdersService.MessageDraft.self, context: context)
            let message = try await service.post(draft, to: try Self.orderID(context), role: isCustomer ? .customer : .member, by: caller)
            return try Response.json(message, status: .created)
        }
        orders.post("{id}/messages/read") { request, context -> Response in
            let caller = try context.caller(requiring: "workorders.read")
            let marker = try await request.decodeJSON(as: ReadMarker.self, context: context)
            try await service.markRead(try Self.orderID(context), reader: marker.reader, lastReadID: marker.lastReadID, by: caller)
            return Response(status: .noContent)
        }
        router.get("/api/workorders/unread") { request, context in
            try context.requirePermission("workorders.read")
            var query = QueryReader(request)
            let reader = query.require("reader", "is required: the watcher whose unread counts to read")
            if let reader, !(1...100).contains(reader.textLength) { query.reject("reader", "must be 1 to 100 characters") }
            try query.validate()
            let counts = try await service.unreadCounts(for: reader ?? "")
            return Unread(
                reader: reader ?? "",
                counts: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.uuidString, $0.value) }),
                total: counts.values.reduce(0, +)
            )
        }
        addQuickReplyRoutes(to: router)
        addFileRoutes(to: router)
        addLicenseRoutes(to: router)
    }

    func addQuickReplyRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let replies = router.group("/api/workorders/quick-replies")
        replies.get("{user_id}") { _, context in
            try context.requirePermission("workorders.read")
            return Page.complete(try await service.quickReplies(of: try context.parameters.require("user_id")))
        }
        replies.post("{user_id}/add") { request, context in
            let caller = try context.caller(requiring: "workorders.write")
            let body = try await request.decodeJSON(as: Phrases.self, context: context)
            let owner = try context.parameters.require("user_id")
            return Page.complete(try await service.addQuickReplies(body.phrases, to: owner, role: body.role ?? "member", by: caller))
        }
        replies.post("{user_id}/remove") { request, context in
            let caller = try context.caller(requiring: "workorders.write")
            let body = try await request.decodeJSON(as: Phrases.self, context: context)
            return Page.complete(try await service.removeQuickReplies(body.phrases, from: try context.parameters.require("user_id"), by: caller))
        }
    }

    // MARK: Helpers

    /// The orders the principal may read (`nil`: all), after checking `workorders.read`.
    static func readScope(_ context: StrataRequestContext) throws -> [UUID]? {
        try context.caller(requiring: "workorders.read").orderScope
    }

    static func orderID(_ context: StrataRequestContext) throws -> UUID {
        guard let id = UUID(uuidString: try context.parameters.require("id")) else {
            throw StrataError(.notFound, "No work order has this id (work order ids are UUIDs).")
        }
        return id
    }

    static func withETag(_ order: WorkOrder) -> Response {
        var response = Response.json(order)
        response.headers[.eTag] = ETag.value(version: order.version)
        return response
    }

    static func afterAndLimit(_ request: Request) throws -> (Int64, Int) {
        var query = QueryReader(request)
        let (after, limit) = query.positionPage(defaultLimit: 100, maximumLimit: 500)
        try query.validate()
        return (after, limit)
    }
}

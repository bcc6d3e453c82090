import Foundation
public import Hummingbird
import StrataCore
public import StrataHTTP

/// `/api/factory/anomalies/…`, `/api/factory/solutions/…`, `/api/factory/work-orders/…` and
/// `/api/factory/cases/…`: the anomaly lifecycle. Reads need `factory.read`, changes
/// `factory.write`; everything is limited to the caller's factories and lines (a row outside
/// them is not found).
public struct AnomaliesController: Sendable {
    let anomalies: AnomalyService

    public init(anomalies: AnomalyService) {
        self.anomalies = anomalies
    }

    struct TransitionRequest: Decodable {
        var status: AnomalyStatus
        var reason: String?
    }

    struct ReopenRequest: Decodable {
        var reason: String
    }

    struct VerifyRequest: Decodable {
        var accepted: Bool
        var notes: String?
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        addAnomalyRoutes(to: router.group("/api/factory/anomalies"))
        addFixRoutes(to: router)
        let cases = router.group("/api/factory/cases")
        cases.get { request, context in
            let principal = try context.requirePermission("factory.read")
            var query = QueryReader(request)
            let tags = query.text("tags", length: 1...500).map { $0.split(separator: ",").map(String.init) } ?? []
            if tags.count > 32 { query.reject("tags", "at most 32 tags") }
            let text = query.text("q", length: 1...200)
            let page = query.page()
            try query.validate()
            return try Response.json(
                try await anomalies.cases(tags: tags, text: text, limit: page.limit, cursor: page.cursor, scopes: principal.rowScopes)
            )
        }
        cases.get("{id}") { _, context in
            let principal = try context.requirePermission("factory.read")
            return try Response.json(try await anomalies.caseEntry(try Self.id(context, "case"), scopes: principal.rowScopes))
        }
    }

    func addAnomalyRoutes(to group: RouterGroup<StrataRequestContext>) {
        group.post { request, context in
            let caller = try context.caller(requiring: "factory.write")
            let report = try await request.decodeJSON(as: AnomalyService.Report.self, context: context)
            return try Self.tagged(try await anomalies.report(report, by: caller), status: .created)
        }
        group.get { request, context in
            let principal = try context.requirePermission("factory.read")
            var query = QueryReader(request)
            let filter = AnomalyService.Filter(
                lineID: query.text("line_id", length: 1...50),
                stationID: query.text("station_id", length: 1...50),
                status: query.choice("status", of: AnomalyStatus.self),
                severity: query.choice("severity", of: Severity.self)
            )
            let page = query.page()
            try query.validate()
            return Response.json(
                try await anomalies.list(filter, limit: page.limit, cursor: page.cursor, scopes: principal.rowScopes)
            )
        }
        group.get("{id}") { _, context in
            let principal = try context.requirePermission("factory.read")
            let detail = try await anomalies.detail(try Self.id(context, "anomaly"), scopes: principal.rowScopes)
            var response = Response.json(detail)
            response.headers[.eTag] = ETag.value(version: detail.anomaly.version)
            return response
        }
        group.patch("{id}") { request, context in
            let caller = try context.caller(requiring: "factory.write")
            let id = try Self.id(context, "anomaly")
            let patch = try await request.decodeJSON(as: AnomalyService.Patch.self, context: context)
            try anomalies.precheck(patch)
            let expected = try ETag.requiredVersion(request)
            return try Self.tagged(try await anomalies.update(id, patch, expectedVersion: expected, by: caller))
        }
        group.get("{id}/history") { _, context in
            let principal = try context.requirePermission("factory.read")
            let entries = try await anomalies.history(of: try Self.id(context, "anomaly"), scopes: principal.rowScopes)
            return try Response.json(Page.complete(entries))
        }
        group.post("{id}/transition") { request, context in
            let caller = try context.caller(requiring: "factory.write")
            let id = try Self.id(context, "anomaly")
            let body = try await request.decodeJSON(as: TransitionRequest.self, context: context)
            return try Self.tagged(try await anomalies.transition(id, to: body.status, reason: body.reason, by: caller))
        }
        group.post("{id}/close") { request, context in
            let caller = try context.caller(requiring: "factory.write")
            let id = try Self.id(context, "anomaly")
            let closing = try await request.decodeJSONIfPresent(as: AnomalyService.Closing.self, context: context) ?? .init()
            let closed = try await anomalies.close(id, closing, by: caller)
            var response = try Response.json(closed)
            response.headers[.eTag] = ETag.value(version: closed.anomaly.version)
            return response
        }
        group.post("{id}/reopen") { request, context in
            let caller = try context.caller(requiring: "factory.write")
            let id = try Self.id(context, "anomaly")
            let body = try await request.decodeJSON(as: ReopenRequest.self, context: context)
            return try Self.tagged(try await anomalies.reopen(id, reason: body.reason, by: caller))
        }
        group.post("{id}/solutions") { request, context in
            let caller = try context.caller(requiring: "factory.write")
            let id = try Self.id(context, "anomaly")
            let draft = try await request.decodeJSON(as: AnomalyService.SolutionDraft.self, context: context)
            return Response.json(try await anomalies.propose(draft, for: id, by: caller), status: .created)
        }
    }

    func addFixRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let solutions = router.group("/api/factory/solutions")
        solutions.post("{id}/recommend") { _, context in
            let caller = try context.caller(requiring: "factory.write")
            return Response.json(try await anomalies.recommend(try Self.id(context, "solution"), by: caller))
        }
        solutions.post("{id}/adopt") { _, context in
            let caller = try context.caller(requiring: "factory.write")
            return Response.json(try await anomalies.adopt(try Self.id(context, "solution"), by: caller))
        }
        solutions.post("{id}/work-orders") { request, context in
            let caller = try context.caller(requiring: "factory.write")
            let id = try Self.id(context, "solution")
            let draft = try await request.decodeJSON(as: AnomalyService.WorkOrderDraft.self, context: context)
            return Response.json(try await anomalies.openWorkOrder(for: id, draft, by: caller), status: .created)
        }
        let orders = router.group("/api/factory/work-orders")
        orders.get { request, context in
            let principal = try context.requirePermission("factory.read")
            var query = QueryReader(request)
            let line = query.text("line_id", length: 1...50)
            let status = query.choice("status", of: WorkOrderStatus.self)
            let page = query.page()
            try query.validate()
            return Response.json(
                try await anomalies.workOrders(
                    line: line,
                    status: status,
                    limit: page.limit,
                    cursor: page.cursor,
                    scopes: principal.rowScopes
                )
            )
        }
        orders.get("{id}") { _, context in
            let principal = try context.requirePermission("factory.read")
            return Response.json(try await anomalies.workOrder(try Self.id(context, "work order"), scopes: principal.rowScopes))
        }
        for step in AnomalyService.WorkOrderStep.allCases {
            orders.post(RouterPath("{id}/\(step.rawValue)")) { request, context in
                let caller = try context.caller(requiring: "factory.write")
                let id = try Self.id(context, "work order")
                let completion = try await request.decodeJSONIfPresent(as: AnomalyService.Completion.self, context: context) ?? .init()
                return Response.json(try await anomalies.step(id, step, completion, by: caller))
            }
        }
        orders.post("{id}/verify") { request, context in
            let caller = try context.caller(requiring: "factory.write")
            let id = try Self.id(context, "work order")
            let body = try await request.decodeJSON(as: VerifyRequest.self, context: context)
            return Response.json(try await anomalies.verify(id, accepted: body.accepted, notes: body.notes, by: caller))
        }
    }

    static func tagged(_ anomaly: Anomaly, status: HTTPResponse.Status = .ok) throws -> Response {
        var response = Response.json(anomaly, status: status)
        response.headers[.eTag] = ETag.value(version: anomaly.version)
        return response
    }

    static func id(_ context: StrataRequestContext, _ what: String) throws -> UUID {
        guard let id = UUID(uuidString: try context.parameters.require("id")) else {
            throw StrataError(.notFound, "No \(what) has this id (ids are UUIDs).")
        }
        return id
    }
}

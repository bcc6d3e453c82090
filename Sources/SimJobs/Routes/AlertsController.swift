import Foundation
public import Hummingbird
import StrataCore
public import StrataHTTP

/// `/api/simjobs/alerts` (alerts and their rules) and `/api/simjobs/system/logs`. Reads need
/// `read`; resolving an alert needs `write`; changing a rule needs `admin`.
public struct AlertsController: Sendable {
    let alerts: AlertService
    let systemLog: SystemLog

    public init(alerts: AlertService, systemLog: SystemLog) {
        self.alerts = alerts
        self.systemLog = systemLog
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let group = router.group("/api/simjobs/alerts")
        group.get { request, context in
            try context.requirePermission("simjobs.read")
            var query = QueryReader(request)
            let state = query.choice("state", among: ["active", "resolved"])
            let level = query.choice("level", among: AlertService.levels)
            let page = query.page()
            try query.validate()
            let resolved = state.map { $0 == "resolved" }
            return try Response.json(try await alerts.alerts(resolved: resolved, level: level, limit: page.limit, cursor: page.cursor))
        }
        group.post("{id}/resolve") { _, context in
            let caller = try context.caller(requiring: "simjobs.write")
            guard let id = Int64(try context.parameters.require("id")), id > 0 else {
                throw StrataError(.notFound, "No alert has this id (alert ids are whole numbers).")
            }
            return try Response.json(try await alerts.resolve(id, by: caller))
        }
        group.get("rules") { _, context in
            try context.requirePermission("simjobs.read")
            return try Response.json(Page.complete(try await alerts.rules()))
        }
        group.patch("rules/{id}") { request, context in
            let caller = try context.caller(requiring: "simjobs.admin")
            guard let id = UUID(uuidString: try context.parameters.require("id")) else {
                throw StrataError(.notFound, "No alert rule has this id (rule ids are UUIDs).")
            }
            let update = try await request.decodeJSON(as: AlertService.RuleUpdate.self, context: context)
            return try Response.json(try await alerts.updateRule(id, update, by: caller))
        }
        router.get("/api/simjobs/system/logs") { request, context in
            try context.requirePermission("simjobs.read")
            var query = QueryReader(request)
            let filter = SystemLog.Filter(
                level: query.choice("level", among: SystemLog.levels),
                source: query.choice("source", of: SystemLogEntry.Source.self),
                requestID: query.text("request_id", length: 1...200)
            )
            let page = query.page()
            try query.validate()
            return try Response.json(try await systemLog.list(filter, limit: page.limit, cursor: page.cursor))
        }
    }
}

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

    struct RuleList: Encodable {
        var items: [AlertRule]
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let group = router.group("/api/simjobs/alerts")
        group.get { request, context in
            try context.requirePermission("read")
            let page = try PageRequest(from: request)
            let query = request.uri.queryParameters
            var errors: [StrataError.FieldError] = []
            var resolved: Bool?
            switch query["state"].map(String.init) {
            case nil: break
            case "active": resolved = false
            case "resolved": resolved = true
            default: errors.append(.init(field: "state", reason: "must be active or resolved"))
            }
            let level = query["level"].map { String($0).uppercased() }
            if let level, !["CRITICAL", "WARNING", "INFO"].contains(level) {
                errors.append(.init(field: "level", reason: "must be CRITICAL, WARNING or INFO"))
            }
            guard errors.isEmpty else { throw StrataError.validation(errors) }
            return try Response.json(try await alerts.alerts(resolved: resolved, level: level, limit: page.limit, cursor: page.cursor))
        }
        group.post("{id}/resolve") { _, context in
            let principal = try context.requirePermission("write")
            guard let id = Int64(try context.parameters.require("id")), id > 0 else {
                throw StrataError(.notFound, "No alert has this id (alert ids are whole numbers).")
            }
            return try Response.json(try await alerts.resolve(id, by: String(principal.name.prefix(200)), requestID: context.requestID))
        }
        group.get("rules") { _, context in
            try context.requirePermission("read")
            return try Response.json(RuleList(items: try await alerts.rules()))
        }
        group.patch("rules/{id}") { request, context in
            try context.requirePermission("admin")
            guard let id = UUID(uuidString: try context.parameters.require("id")) else {
                throw StrataError(.notFound, "No alert rule has this id (rule ids are UUIDs).")
            }
            let update = try await request.decodeJSON(as: AlertService.RuleUpdate.self, context: context)
            return try Response.json(try await alerts.updateRule(id, update, audit: context.audit))
        }
        router.get("/api/simjobs/system/logs") { request, context in
            try context.requirePermission("read")
            let page = try PageRequest(from: request)
            let query = request.uri.queryParameters
            var filter = SystemLog.Filter()
            var errors: [StrataError.FieldError] = []
            if let level = query["level"].map({ String($0).uppercased() }) {
                if ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"].contains(level) {
                    filter.level = level
                } else {
                    errors.append(.init(field: "level", reason: "must be DEBUG, INFO, WARNING, ERROR or CRITICAL"))
                }
            }
            if let source = query["source"].map(String.init) {
                if let value = SystemLogEntry.Source(rawValue: source) {
                    filter.source = value
                } else {
                    errors.append(.init(field: "source", reason: "must be api, worker, scheduler or system"))
                }
            }
            if let requestID = query["request_id"].map(String.init) {
                if (1...200).contains(requestID.count) {
                    filter.requestID = requestID
                } else {
                    errors.append(.init(field: "request_id", reason: "must be 1 to 200 characters"))
                }
            }
            guard errors.isEmpty else { throw StrataError.validation(errors) }
            return try Response.json(try await systemLog.list(filter, limit: page.limit, cursor: page.cursor))
        }
    }
}

import Foundation
public import Hummingbird
import StrataCore
public import StrataHTTP
public import StrataPostgres

/// `/api/simjobs/...`: submit tasks (one route per task type, and batches), list and read them,
/// their results and logs, cancel them; the models and the queue at a glance. Reads need
/// permission `read`, submissions and cancellations `write`.
public struct TasksController: Sendable {
    let service: TaskService
    let pool: PostgresPool

    /// - Parameter secrets: Seals the callback secrets of submitted tasks.
    public init(pool: PostgresPool, secrets: SecretBox) {
        self.pool = pool
        self.service = TaskService(pool: pool, secrets: secrets)
    }

    struct Batch: Decodable {
        var tasks: [TaskService.Submission]
    }

    struct TaskList: ResponseEncodable {
        var items: [SimulationTask]
    }

    struct LogPage: ResponseEncodable {
        var items: [TaskLogLine]
        /// Pass as `after` to read on.
        var lastID: Int64

        enum CodingKeys: String, CodingKey {
            case items
            case lastID = "last_id"
        }
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let tasks = router.group("/api/simjobs/tasks")
        for type in TaskType.allCases {
            tasks.post(RouterPath(type.rawValue)) { request, context in
                try context.requirePermission("write")
                let submission = try await request.decodeJSON(as: TaskService.Submission.self, context: context)
                let created = try await service.submit([submission], type: type, audit: context.audit, requestID: context.requestID)
                return try Response.json(created[0], status: .accepted)
            }
        }
        tasks.post("batch") { request, context in
            try context.requirePermission("write")
            let batch = try await request.decodeJSON(as: Batch.self, context: context)
            let created = try await service.submit(batch.tasks, type: nil, audit: context.audit, requestID: context.requestID)
            return try Response.json(TaskList(items: created), status: .accepted)
        }
        tasks.get { request, context in
            try context.requirePermission("read")
            let page = try PageRequest(from: request)
            let filter = try Self.filter(request)
            return try Response.json(try await service.list(filter, limit: page.limit, cursor: page.cursor))
        }
        tasks.get("{id}") { _, context in
            try context.requirePermission("read")
            let task = try await service.task(try Self.taskID(context))
            var response = try Response.json(task)
            response.headers[.eTag] = ETag.value(version: task.version)
            return response
        }
        tasks.get("{id}/result") { _, context in
            try context.requirePermission("read")
            return try Response.json(try await service.result(try Self.taskID(context)))
        }
        tasks.post("{id}/cancel") { _, context in
            try context.requirePermission("write")
            let task = try await service.cancel(try Self.taskID(context), audit: context.audit, requestID: context.requestID)
            return try Response.json(task, status: task.status == .cancelled ? .ok : .accepted)
        }
        tasks.get("{id}/logs") { request, context in
            try context.requirePermission("read")
            let id = try Self.taskID(context)
            let (after, limit, level) = try Self.logQuery(request)
            let lines = try await service.logs(id, afterID: after, limit: limit, level: level)
            if lines.isEmpty { _ = try await service.task(id) }  // 404 for a task that does not exist
            return try Response.json(LogPage(items: lines, lastID: lines.last?.id ?? after))
        }
        tasks.get("{id}/logs/stream") { request, context in
            try context.requirePermission("read")
            let id = try Self.taskID(context)
            let (after, _, level) = try Self.logQuery(request)
            let resume = try Self.lastEventID(request) ?? after
            _ = try await service.task(id)  // 404 before the stream starts
            return LogStream(service: service, taskID: id, after: resume, level: level).response()
        }
        router.get("/api/simjobs/workers") { _, context in
            try context.requirePermission("read")
            return try Response.json(WorkerList(items: try await service.workers()))
        }
        router.get("/api/simjobs/queue") { _, context in
            try context.requirePermission("read")
            return try Response.json(try await service.queueStatus())
        }
    }

    /// `Last-Event-ID` of a reconnecting stream client: the last log line id it got.
    static func lastEventID(_ request: Request) throws -> Int64? {
        guard let text = request.headers[.lastEventID] else { return nil }
        guard let id = Int64(text), id >= 0 else {
            throw StrataError(.invalidValue, "Last-Event-ID must be a log line id (a whole number).", details: ["field": "Last-Event-ID"])
        }
        return id
    }

    static func taskID(_ context: StrataRequestContext) throws -> UUID {
        guard let id = UUID(uuidString: try context.parameters.require("id")) else {
            throw StrataError(.notFound, "No task has this id (task ids are UUIDs).")
        }
        return id
    }

    static func filter(_ request: Request) throws -> TaskService.Filter {
        var errors: [StrataError.FieldError] = []
        let query = request.uri.queryParameters
        var filter = TaskService.Filter()
        if let text = query["status"].map(String.init) {
            if let status = TaskStatus(rawValue: text.uppercased()) {
                filter.status = status
            } else {
                errors.append(.init(field: "status", reason: "must be one of \(TaskStatus.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        if let text = query["task_type"].map(String.init) {
            if let type = TaskType(rawValue: text) {
                filter.taskType = type
            } else {
                errors.append(.init(field: "task_type", reason: "must be one of \(TaskType.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        if let text = query["model"].map(String.init) {
            if (1...100).contains(text.count) {
                filter.modelName = text
            } else {
                errors.append(.init(field: "model", reason: "must be 1 to 100 characters"))
            }
        }
        guard errors.isEmpty else { throw StrataError.validation(errors) }
        return filter
    }

    static func logQuery(_ request: Request) throws -> (after: Int64, limit: Int, level: String?) {
        var errors: [StrataError.FieldError] = []
        let query = request.uri.queryParameters
        var after: Int64 = 0
        var limit = 500
        var level: String?
        if let text = query["after"] {
            if let value = Int64(String(text)), value >= 0 {
                after = value
            } else {
                errors.append(.init(field: "after", reason: "must be a log line id (0 or more)"))
            }
        }
        if let text = query["limit"] {
            if let value = Int(String(text)), (1...1000).contains(value) {
                limit = value
            } else {
                errors.append(.init(field: "limit", reason: "must be 1 to 1000"))
            }
        }
        if let text = query["level"].map({ String($0).uppercased() }) {
            if ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"].contains(text) {
                level = text
            } else {
                errors.append(.init(field: "level", reason: "must be DEBUG, INFO, WARNING, ERROR or CRITICAL"))
            }
        }
        guard errors.isEmpty else { throw StrataError.validation(errors) }
        return (after, limit, level)
    }
}

struct WorkerList: Encodable {
    var items: [WorkerStatus]
}

import Foundation
public import Hummingbird
import StrataCore
public import StrataEvents
public import StrataHTTP
public import StrataPostgres
public import StrataSecurity

/// `/api/simjobs/...`: submit tasks (one route per task type, and batches), list and read them,
/// their results and logs, cancel them; the models and the queue at a glance. Reads need
/// permission `simjobs.read`, submissions and cancellations `simjobs.write`.
public struct TasksController: Sendable {
    let service: TaskService
    let pool: PostgresPool

    /// - Parameters:
    ///   - secrets: Seals the callback secrets of submitted tasks.
    ///   - outbound: Which hosts callback URLs may name.
    public init(pool: PostgresPool, secrets: SecretBox, outbound: OutboundAddressPolicy = .publicOnly) {
        self.pool = pool
        self.service = TaskService(pool: pool, secrets: secrets, outbound: outbound)
    }

    struct Batch: Decodable {
        var tasks: [TaskService.Submission]
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let tasks = router.group("/api/simjobs/tasks")
        for type in TaskType.allCases {
            tasks.post(RouterPath(type.rawValue)) { request, context in
                let caller = try context.caller(requiring: "simjobs.write")
                let submission = try await request.decodeJSON(as: TaskService.Submission.self, context: context)
                let created = try await service.submit([submission], type: type, by: caller)
                return try Response.json(created[0], status: .accepted)
            }
        }
        tasks.post("batch") { request, context in
            let caller = try context.caller(requiring: "simjobs.write")
            let batch = try await request.decodeJSON(as: Batch.self, context: context)
            let created = try await service.submit(batch.tasks, type: nil, by: caller)
            return try Response.json(Page.complete(created), status: .accepted)
        }
        tasks.get { request, context in
            try context.requirePermission("simjobs.read")
            let (filter, page) = try Self.filter(request)
            return try Response.json(try await service.list(filter, limit: page.limit, cursor: page.cursor))
        }
        tasks.get("{id}") { _, context in
            try context.requirePermission("simjobs.read")
            let task = try await service.task(try Self.taskID(context))
            var response = try Response.json(task)
            response.headers[.eTag] = ETag.value(version: task.version)
            return response
        }
        tasks.get("{id}/result") { _, context in
            try context.requirePermission("simjobs.read")
            return try Response.json(try await service.result(try Self.taskID(context)))
        }
        tasks.post("{id}/cancel") { _, context in
            let caller = try context.caller(requiring: "simjobs.write")
            let task = try await service.cancel(try Self.taskID(context), by: caller)
            return try Response.json(task, status: task.status == .cancelled ? .ok : .accepted)
        }
        tasks.get("{id}/logs") { request, context in
            try context.requirePermission("simjobs.read")
            let id = try Self.taskID(context)
            let (after, limit, level) = try Self.logQuery(request)
            let lines = try await service.logs(id, afterID: after, limit: limit, level: level)
            if lines.isEmpty { _ = try await service.task(id) }  // 404 for a task that does not exist
            return try Response.json(Page.byPosition(lines, limit: limit, position: \.id))
        }
        tasks.get("{id}/logs/stream") { request, context in
            try context.requirePermission("simjobs.read")
            let id = try Self.taskID(context)
            let (after, _, level) = try Self.logQuery(request)
            let resume = try LogStream<TaskLogLine>.lastEventID(request) ?? after
            _ = try await service.task(id)  // 404 before the stream starts
            return LogStream(
                after: resume,
                status: {
                    let status = try await service.status(id)
                    return (status.isTerminal, status.rawValue)
                },
                lines: { after, limit in try await service.logs(id, afterID: after, limit: limit, level: level) },
                id: \.id
            ).response()
        }
        router.get("/api/simjobs/workers") { _, context in
            try context.requirePermission("simjobs.read")
            return try Response.json(Page.complete(try await service.workers()))
        }
        router.get("/api/simjobs/queue") { _, context in
            try context.requirePermission("simjobs.read")
            return try Response.json(try await service.queueStatus())
        }
    }

    static func taskID(_ context: StrataRequestContext) throws -> UUID {
        guard let id = UUID(uuidString: try context.parameters.require("id")) else {
            throw StrataError(.notFound, "No task has this id (task ids are UUIDs).")
        }
        return id
    }

    static func filter(_ request: Request) throws -> (TaskService.Filter, PageRequest) {
        var query = QueryReader(request)
        let filter = TaskService.Filter(
            status: query.choice("status", of: TaskStatus.self),
            taskType: query.choice("task_type", of: TaskType.self),
            modelName: query.text("model", length: 1...100)
        )
        let page = query.page()
        try query.validate()
        return (filter, page)
    }

    static func logQuery(_ request: Request) throws -> (after: Int64, limit: Int, level: String?) {
        var query = QueryReader(request)
        let (after, limit) = query.positionPage(defaultLimit: 500, maximumLimit: 1000)
        let level = query.choice("level", among: SystemLog.levels)
        try query.validate()
        return (after, limit, level)
    }
}

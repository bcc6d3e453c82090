import Foundation
public import Hummingbird
import StrataCore
public import StrataHTTP

/// `/api/workflows/executions/…` and `/api/workflows/worker/claim`: executions read, cancelled
/// and retried by clients (`workflows.read`, `workflows.write`), and the worker protocol by
/// which engines run them (`workflows.write`): claim under a lease, heartbeat, progress, finish.
public struct ExecutionsController: Sendable {
    let executions: ExecutionService

    public init(executions: ExecutionService) {
        self.executions = executions
    }

    struct Claim: Decodable {
        var worker: String
        var limit: Int?
        var leaseSeconds: Int?

        enum CodingKeys: String, CodingKey {
            case worker, limit
            case leaseSeconds = "lease_seconds"
        }
    }

    struct Heartbeat: Decodable {
        var lease: String
        var leaseSeconds: Int?

        enum CodingKeys: String, CodingKey {
            case lease
            case leaseSeconds = "lease_seconds"
        }
    }

    struct Progress: Decodable {
        struct Line: Decodable {
            var node: String?
            var message: String
        }

        var lease: String
        var lines: [Line]
    }

    struct Finish: Decodable {
        var lease: String
        var outcome: ExecutionService.Outcome

        enum CodingKeys: String, CodingKey { case lease }

        init(from decoder: any Decoder) throws {
            lease = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .lease)
            outcome = try ExecutionService.Outcome(from: decoder)
        }
    }

    /// `GET …/executions/{id}/metadata`'s answer.
    struct ExecutionMetadata: Encodable {
        var metadata: [String: String]
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let group = router.group("/api/workflows/executions")
        group.get { request, context in
            try context.requirePermission("workflows.read")
            var query = QueryReader(request)
            let workflow = query.text("workflow_id", length: 1...64)
            let status = query.choice("status", of: ExecutionStatus.self)
            let metadataKey = query.text("metadata_key", length: 1...255)
            let metadataValue = query.text("metadata_value", length: 0...10_000)
            let page = query.page()
            let workflowID = workflow.flatMap(UUID.init(uuidString:))
            if workflow != nil, workflowID == nil { query.reject("workflow_id", "must be a workflow id (a UUID)") }
            if metadataValue != nil, metadataKey == nil { query.reject("metadata_value", "goes with metadata_key") }
            try query.validate()
            let found = try await executions.list(
                workflow: workflowID,
                status: status,
                metadataKey: metadataKey,
                metadataValue: metadataValue,
                limit: page.limit,
                cursor: page.cursor
            )
            return Response.json(found)
        }
        group.get("{id}/metadata") { _, context in
            try context.requirePermission("workflows.read")
            return try Response.json(ExecutionMetadata(metadata: try await executions.metadata(try Self.id(context))))
        }
        group.get("{id}") { _, context in
            try context.requirePermission("workflows.read")
            return Response.json(try await executions.execution(try Self.id(context)))
        }
        group.get("{id}/data") { _, context in
            try context.requirePermission("workflows.read")
            return Response.json(try await executions.data(try Self.id(context)))
        }
        group.get("{id}/logs") { request, context in
            try context.requirePermission("workflows.read")
            let id = try Self.id(context)
            var query = QueryReader(request)
            let (after, limit) = query.positionPage(defaultLimit: 500, maximumLimit: 1000)
            try query.validate()
            let lines = try await executions.log(id, after: after, limit: limit)
            if lines.isEmpty { _ = try await executions.execution(id) }  // 404 for an execution that does not exist
            return try Response.json(Page.byPosition(lines, limit: limit, position: \.id))
        }
        group.get("{id}/logs/stream") { request, context in
            try context.requirePermission("workflows.read")
            let id = try Self.id(context)
            var query = QueryReader(request)
            let after = query.integer("after", in: 0...Int64.max) ?? 0
            try query.validate()
            let resume = try LogStream<ExecutionLogLine>.lastEventID(request) ?? after
            _ = try await executions.execution(id)  // 404 before the stream starts
            return LogStream(
                after: resume,
                status: {
                    let status = try await executions.execution(id).status
                    return (status.isTerminal, status.rawValue)
                },
                lines: { after, limit in try await executions.log(id, after: after, limit: limit) },
                id: \.id
            ).response()
        }
        group.post("{id}/cancel") { _, context in
            let caller = try context.caller(requiring: "workflows.write")
            let execution = try await executions.cancel(try Self.id(context), by: caller)
            return Response.json(execution, status: execution.status == .cancelled ? .ok : .accepted)
        }
        for (action, pinned) in [("pin", true), ("unpin", false)] {
            group.post(RouterPath("{id}/\(action)")) { _, context in
                let caller = try context.caller(requiring: "workflows.write")
                return Response.json(try await executions.setPinned(try Self.id(context), pinned, by: caller))
            }
        }
        group.post("{id}/retry") { _, context in
            let caller = try context.caller(requiring: "workflows.write")
            return Response.json(try await executions.retry(try Self.id(context), by: caller), status: .created)
        }
        group.post("{id}/heartbeat") { request, context in
            _ = try context.caller(requiring: "workflows.write")
            let heartbeat = try await request.decodeJSON(as: Heartbeat.self, context: context)
            let lease = try Self.lease(seconds: heartbeat.leaseSeconds)
            let cancel = try await executions.heartbeat(try Self.id(context), lease: heartbeat.lease, extendBy: lease)
            return try Response.json(["cancel_requested": cancel])
        }
        group.post("{id}/progress") { request, context in
            _ = try context.caller(requiring: "workflows.write")
            let progress = try await request.decodeJSON(as: Progress.self, context: context)
            var problems: [StrataError.FieldError] = []
            if progress.lines.count > 1000 { problems.append(.init(field: "lines", reason: "at most 1000 lines at once")) }
            for (index, line) in progress.lines.enumerated() {
                if !(1...10_000).contains(line.message.textLength) {
                    problems.append(.init(field: "lines[\(index)].message", reason: "must be 1 to 10000 characters"))
                }
                if let node = line.node, !(1...128).contains(node.textLength) {
                    problems.append(.init(field: "lines[\(index)].node", reason: "must be 1 to 128 characters"))
                }
            }
            if !problems.isEmpty { throw StrataError.validation(problems) }
            try await executions.progress(try Self.id(context), lease: progress.lease, lines: progress.lines.map { ($0.node, $0.message) })
            return Response(status: .noContent)
        }
        group.post("{id}/finish") { request, context in
            let caller = try context.caller(requiring: "workflows.write")
            let finish = try await request.decodeJSON(as: Finish.self, context: context)
            return Response.json(try await executions.finish(try Self.id(context), lease: finish.lease, finish.outcome, by: caller))
        }
        router.post("/api/workflows/worker/claim") { request, context in
            let caller = try context.caller(requiring: "workflows.write")
            let claim = try await request.decodeJSON(as: Claim.self, context: context)
            let lease = try Self.lease(seconds: claim.leaseSeconds)
            let claimed = try await executions.claim(worker: claim.worker, limit: claim.limit ?? 1, lease: lease, by: caller)
            return Response.json(Page.complete(claimed))
        }
    }

    /// A lease of `seconds` (5 to 3600, default 60).
    static func lease(seconds: Int?) throws -> Duration {
        let seconds = seconds ?? 60
        guard (5...3600).contains(seconds) else {
            throw StrataError.validation([.init(field: "lease_seconds", reason: "must be 5 to 3600")])
        }
        return .seconds(seconds)
    }

    static func id(_ context: StrataRequestContext) throws -> UUID {
        guard let id = UUID(uuidString: try context.parameters.require("id")) else {
            throw StrataError(.notFound, "No execution has this id (execution ids are UUIDs).")
        }
        return id
    }
}

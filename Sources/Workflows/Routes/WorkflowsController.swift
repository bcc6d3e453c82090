import Foundation
public import Hummingbird
import StrataCore
public import StrataHTTP

/// `/api/workflows/workflows/…`: workflows, their graph versions, activation and archiving,
/// their statistics, and starting their executions. Reads need `workflows.read`, changes
/// `workflows.write`.
public struct WorkflowsController: Sendable {
    let workflows: WorkflowService
    let executions: ExecutionService

    public init(workflows: WorkflowService, executions: ExecutionService) {
        self.workflows = workflows
        self.executions = executions
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let group = router.group("/api/workflows/workflows")
        group.post { request, context in
            let caller = try context.caller(requiring: "workflows.write")
            let draft = try await request.decodeJSON(as: WorkflowService.Draft.self, context: context)
            return try Self.tagged(try await workflows.create(draft, by: caller), status: .created)
        }
        group.get { request, context in
            try context.requirePermission("workflows.read")
            var query = QueryReader(request)
            let filter = WorkflowService.Filter(
                tag: query.text("tag", length: 1...24),
                status: query.choice("status", of: WorkflowStatus.self),
                archived: query.bool("archived"),
                name: query.text("name", length: 1...128)
            )
            let page = query.page()
            try query.validate()
            return Response.json(try await workflows.list(filter, limit: page.limit, cursor: page.cursor))
        }
        group.get("{id}") { request, context in
            try context.requirePermission("workflows.read")
            var query = QueryReader(request)
            let include = query.choice("include", among: ["details"])
            try query.validate()
            return try Self.tagged(try await workflows.workflow(try Self.id(context), details: include == "details"))
        }
        group.patch("{id}") { request, context in
            let caller = try context.caller(requiring: "workflows.write")
            let id = try Self.id(context)
            let patch = try await request.decodeJSON(as: WorkflowService.Patch.self, context: context)
            try workflows.precheck(patch)
            let expected = try ETag.requiredVersion(request)
            return try Self.tagged(try await workflows.update(id, patch, expectedVersion: expected, by: caller))
        }
        group.get("{id}/versions") { request, context in
            try context.requirePermission("workflows.read")
            var query = QueryReader(request)
            let page = query.page()
            try query.validate()
            return try Response.json(try await workflows.versions(of: try Self.id(context), limit: page.limit, cursor: page.cursor))
        }
        group.get("{id}/versions/{version_id}") { _, context in
            try context.requirePermission("workflows.read")
            return try Response.json(try await workflows.version(try Self.versionID(context), of: try Self.id(context)))
        }
        group.post("{id}/versions/{version_id}/restore") { request, context in
            let caller = try context.caller(requiring: "workflows.write")
            let (id, versionID) = (try Self.id(context), try Self.versionID(context))
            let expected = try ETag.version(in: request)
            let workflow = try await workflows.restore(id, version: versionID, expectedVersion: expected, by: caller)
            return try Self.tagged(workflow)
        }
        for action in ["activate", "deactivate", "archive", "unarchive"] {
            group.post(RouterPath("{id}/\(action)")) { _, context in
                let caller = try context.caller(requiring: "workflows.write")
                let id = try Self.id(context)
                let workflow =
                    switch action {
                    case "activate": try await workflows.activate(id, by: caller)
                    case "deactivate": try await workflows.deactivate(id, by: caller)
                    case "archive": try await workflows.archive(id, by: caller)
                    default: try await workflows.unarchive(id, by: caller)
                    }
                return try Self.tagged(workflow)
            }
        }
        group.get("{id}/stats") { request, context in
            try context.requirePermission("workflows.read")
            var query = QueryReader(request)
            let days = query.integer("days", in: 1...3650)
            try query.validate()
            return try Response.json(try await executions.stats(workflow: try Self.id(context), days: Int(days ?? 7)))
        }
        group.post("{id}/executions") { request, context in
            let caller = try context.caller(requiring: "workflows.write")
            let id = try Self.id(context)
            let start = try await request.decodeJSONIfPresent(as: ExecutionService.StartRequest.self, context: context) ?? .init()
            let (execution, created) = try await executions.start(workflow: id, start, by: caller)
            return Response.json(execution, status: created ? .created : .ok)
        }
    }

    /// The workflow with its ETag.
    static func tagged(_ workflow: Workflow, status: HTTPResponse.Status = .ok) throws -> Response {
        var response = Response.json(workflow, status: status)
        response.headers[.eTag] = ETag.value(version: workflow.version)
        return response
    }

    static func id(_ context: StrataRequestContext) throws -> UUID {
        guard let id = UUID(uuidString: try context.parameters.require("id")) else {
            throw StrataError(.notFound, "No workflow has this id (workflow ids are UUIDs).")
        }
        return id
    }

    static func versionID(_ context: StrataRequestContext) throws -> UUID {
        guard let id = UUID(uuidString: try context.parameters.require("version_id")) else {
            throw StrataError(.notFound, "This workflow has no version with this id (version ids are UUIDs).")
        }
        return id
    }
}

import Foundation
public import Hummingbird
import StrataCore
public import StrataHTTP

/// `/api/factory/lines/…`: production lines, their stations and their overview. Reads need `factory.read`,
/// changes `factory.admin`; every answer is limited to the caller's factories and lines.
public struct PlantController: Sendable {
    let plant: PlantService
    let overviews: OverviewCache

    public init(plant: PlantService, overviews: OverviewCache) {
        self.plant = plant
        self.overviews = overviews
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let group = router.group("/api/factory/lines")
        group.get { request, context in
            let principal = try context.requirePermission("factory.read")
            var query = QueryReader(request)
            let factory = query.text("factory_id", length: 1...50)
            try query.validate()
            return try Response.json(Page.complete(try await plant.lines(factory: factory, scopes: principal.rowScopes)))
        }
        group.post { request, context in
            let caller = try context.caller(requiring: "factory.admin")
            let draft = try await request.decodeJSON(as: PlantService.LineDraft.self, context: context)
            return try Self.tagged(try await plant.createLine(draft, by: caller), status: .created)
        }
        group.get("{line_id}") { _, context in
            let principal = try context.requirePermission("factory.read")
            return try Self.tagged(try await plant.line(try context.parameters.require("line_id"), scopes: principal.rowScopes))
        }
        group.patch("{line_id}") { request, context in
            let caller = try context.caller(requiring: "factory.admin")
            let id = try context.parameters.require("line_id")
            let patch = try await request.decodeJSON(as: PlantService.LinePatch.self, context: context)
            try plant.precheck(patch)
            let expected = try ETag.requiredVersion(request)
            return try Self.tagged(try await plant.updateLine(id, patch, expectedVersion: expected, by: caller))
        }
        group.get("{line_id}/overview") { _, context in
            let principal = try context.requirePermission("factory.read")
            return Response.json(bytes: try await overviews.overviewJSON(of: try context.parameters.require("line_id"), scopes: principal.rowScopes))
        }
        group.get("{line_id}/stations") { _, context in
            let principal = try context.requirePermission("factory.read")
            let stations = try await plant.stations(of: try context.parameters.require("line_id"), scopes: principal.rowScopes)
            return try Response.json(Page.complete(stations))
        }
        group.post("{line_id}/stations") { request, context in
            let caller = try context.caller(requiring: "factory.admin")
            let id = try context.parameters.require("line_id")
            let draft = try await request.decodeJSON(as: PlantService.StationDraft.self, context: context)
            return try Response.json(try await plant.createStation(on: id, draft, by: caller), status: .created)
        }
    }

    static func tagged(_ line: ProductionLine, status: HTTPResponse.Status = .ok) throws -> Response {
        var response = try Response.json(line, status: status)
        response.headers[.eTag] = ETag.value(version: line.version)
        return response
    }
}

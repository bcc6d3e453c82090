import Foundation
public import Hummingbird
import StrataCore
public import StrataHTTP

/// `/api/simjobs/models`: the model registry, and which models are loaded on which worker's GPU
/// (`POST {name}/load|unload` answer 202: the worker carries them out at its next heartbeat;
/// `GET loaded` lists the loads). Reads need `read`; registering, changing, validating and
/// deleting custom models, loading and unloading need `admin`.
public struct ModelsController: Sendable {
    let catalog: ModelCatalog

    public init(catalog: ModelCatalog) {
        self.catalog = catalog
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let models = router.group("/api/simjobs/models")
        models.get { _, context in
            try context.requirePermission("simjobs.read")
            return try Response.json(Page.complete(try await catalog.list()))
        }
        models.post { request, context in
            let caller = try context.caller(requiring: "simjobs.admin")
            let registration = try await request.decodeJSON(as: ModelCatalog.Registration.self, context: context)
            let model = try await catalog.register(registration, by: caller)
            var response = try Response.json(model, status: .created)
            response.headers[.location] = "/api/simjobs/models/\(model.name)"
            return response
        }
        models.get("loaded") { request, context in
            try context.requirePermission("simjobs.read")
            var query = QueryReader(request)
            let state = query.choice("state", of: ModelLoad.State.self)
            let model = query.text("model", length: 1...100)
            try query.validate()
            return try Response.json(Page.complete(try await catalog.loads(of: model, state: state)))
        }
        models.post("{name}/load") { request, context in
            let caller = try context.caller(requiring: "simjobs.admin")
            let placement = try await request.decodeJSONIfPresent(as: ModelCatalog.Placement.self, context: context) ?? .init()
            let name = try context.parameters.require("name")
            let load = try await catalog.requestLoad(name, placement, by: caller)
            return try Response.json(load, status: .accepted)
        }
        models.post("{name}/unload") { request, context in
            let caller = try context.caller(requiring: "simjobs.admin")
            let placement = try await request.decodeJSONIfPresent(as: ModelCatalog.Placement.self, context: context) ?? .init()
            let name = try context.parameters.require("name")
            let loads = try await catalog.requestUnload(name, placement, by: caller)
            return try Response.json(Page.complete(loads), status: .accepted)
        }
        models.get("{name}") { _, context in
            try context.requirePermission("simjobs.read")
            return try Response.json(try await catalog.model(try context.parameters.require("name")))
        }
        models.patch("{name}") { request, context in
            let caller = try context.caller(requiring: "simjobs.admin")
            let update = try await request.decodeJSON(as: ModelCatalog.Update.self, context: context)
            let name = try context.parameters.require("name")
            return try Response.json(try await catalog.update(name, update, by: caller))
        }
        models.post("{name}/validation") { request, context in
            let caller = try context.caller(requiring: "simjobs.admin")
            let validation = try await request.decodeJSON(as: ModelCatalog.Validation.self, context: context)
            let name = try context.parameters.require("name")
            return try Response.json(try await catalog.recordValidation(name, validation, by: caller))
        }
        models.delete("{name}") { _, context in
            let caller = try context.caller(requiring: "simjobs.admin")
            try await catalog.delete(try context.parameters.require("name"), by: caller)
            return Response(status: .noContent)
        }
    }
}

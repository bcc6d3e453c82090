import Foundation
public import Hummingbird
import StrataCore
public import StrataHTTP
import StrataPostgres

/// `GET /api/factory/events[?aggregate=ID]`: the app's events (`strata:events:factory`) as
/// Server-Sent Events, resumable with `Last-Event-ID`, limited to the caller's factories and
/// lines (permission `factory.read`). A scoped caller sees the events whose payload names a line
/// of its scope, and the shared graph's; users' and links' events only reach unscoped callers.
public struct FactoryEventsController: Sendable {
    let events: EventsController

    public init(events: EventsController) {
        self.events = events
    }

    /// What an event's payload says about where it happened.
    struct Place: Decodable {
        var factoryID: String?
        var lineID: String?
        var nodeID: String?

        enum CodingKeys: String, CodingKey {
            case factoryID = "factory_id"
            case lineID = "line_id"
            case nodeID = "node_id"
        }
    }

    /// Whether a caller of `scopes` may see `event`.
    static func visible(_ event: OutboxEvent, to scopes: [String: [String]]) -> Bool {
        if scopes.isEmpty { return true }
        guard let place = try? JSONDecoder.api().decode(Place.self, from: Data(event.payloadJSON.utf8)) else { return false }
        if let factory = place.factoryID, let line = place.lineID { return OverviewCache.allows(scopes, factory: factory, line: line) }
        return place.nodeID != nil && place.lineID == nil  // the plant's shared knowledge
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        router.get("/api/factory/events") { request, context in
            let principal = try context.requirePermission("factory.read")
            var query = QueryReader(request)
            let aggregate = query.text("aggregate", length: 1...200)
            try query.validate()
            let scopes = principal.rowScopes
            return try await events.stream(app: "factory", aggregateID: aggregate, request: request, context: context) { event in
                Self.visible(event, to: scopes)
            }
        }
    }
}

public import HTTPTypes
public import Hummingbird
import Synchronization

/// One registered endpoint: a method and a path in OpenAPI form (`/api/items/{id}`).
public struct RouteEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var method: String
    public var path: String
    public var description: String { "\(method) \(path)" }
}

/// Passes routes on to a router and records each method and path in a ``RouteTable``, so that
/// the server can list exactly what it serves (the OpenAPI document is checked against it) and
/// answer 405 for a known path with another method.
public final class RouteRecorder<Context: RequestContext>: RouterMethods {
    let router: Router<Context>
    let table: RouteTable

    public init(_ router: Router<Context>, into table: RouteTable) {
        self.router = router
        self.table = table
    }

    @discardableResult
    public func on<Responder: HTTPResponder>(_ path: RouterPath, method: HTTPRequest.Method, responder: Responder) -> Self
    where Responder.Context == Context {
        router.on(path, method: method, responder: responder)
        let text =
            "/"
            + path.components.map { component in
                let segment = "\(component)"
                // Hummingbird prints a parameter as "{id}" or ":id"; OpenAPI wants "{id}".
                return segment.hasPrefix(":") ? "{\(segment.dropFirst())}" : segment
            }.joined(separator: "/")
        table.add(RouteEndpoint(method: method.rawValue, path: text))
        return self
    }

    @discardableResult
    public func add(middleware: any MiddlewareProtocol<Request, Response, Context>) -> Self {
        router.add(middleware: middleware)
        return self
    }
}

/// The server's endpoints, as registered through a ``RouteRecorder``.
public final class RouteTable: Sendable {
    private let recorded = Mutex<[RouteEndpoint]>([])

    public init() {}

    /// Every endpoint, in registration order.
    public var endpoints: [RouteEndpoint] { recorded.withLock { $0 } }

    func add(_ endpoint: RouteEndpoint) {
        recorded.withLock { $0.append(endpoint) }
    }

    /// The methods routes answer on `path` (empty when no route has this path): what tells
    /// "no such path" (404) from "not with this method" (405 with `Allow`).
    public func allowedMethods(for path: String) -> [String] {
        let segments = path.split(separator: "/")
        // The router prefers a constant segment to a parameter at every step and does not go
        // back, so only the most specific matching templates answer this path.
        var best: [Bool] = []
        var allowed: Set<String> = []
        for endpoint in endpoints {
            let template = endpoint.path.split(separator: "/")
            guard template.count == segments.count else { continue }
            let matches = zip(template, segments).allSatisfy { pattern, segment in
                pattern == segment || (pattern.hasPrefix("{") && pattern.hasSuffix("}")) || pattern == "*"
            }
            guard matches else { continue }
            let constants = zip(template, segments).map { pattern, segment in pattern == segment }
            if constants.lexicographicallyPrecedes(best, by: { !$0 && $1 }) { continue }
            if best.isEmpty || best.lexicographicallyPrecedes(constants, by: { !$0 && $1 }) {
                best = constants
                allowed = []
            }
            allowed.insert(endpoint.method)
        }
        return allowed.sorted()
    }
}

public import HTTPTypes
public import Hummingbird
import Synchronization

/// Passes routes on to a router and remembers each method and path, so that the server can
/// list exactly what it serves (the OpenAPI document is checked against this list).
public final class RouteRecorder<Context: RequestContext>: RouterMethods {
    /// One registered endpoint.
    public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
        public var method: String
        /// The path in OpenAPI form (`/api/items/{id}`).
        public var path: String
        public var description: String { "\(method) \(path)" }
    }

    let router: Router<Context>
    /// Every endpoint registered through the recorder, in order.
    public private(set) var endpoints: [Endpoint] = []

    public init(_ router: Router<Context>) {
        self.router = router
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
        endpoints.append(Endpoint(method: method.rawValue, path: text))
        return self
    }

    @discardableResult
    public func add(middleware: any MiddlewareProtocol<Request, Response, Context>) -> Self {
        router.add(middleware: middleware)
        return self
    }
}

/// The methods each path template answers, to tell "no such path" (404) from "not with this
/// method" (405 with `Allow`). Filled once the routes are registered.
public final class RouteTable: Sendable {
    private let templates = Mutex<[(segments: [Substring], methods: Set<String>)]>([])

    public init() {}

    /// Records the server's endpoints.
    public func record(_ endpoints: [RouteRecorder<some RequestContext>.Endpoint]) {
        var byPath: [String: Set<String>] = [:]
        for endpoint in endpoints { byPath[endpoint.path, default: []].insert(endpoint.method) }
        templates.withLock { templates in
            templates = byPath.map { (path, methods) in (path.split(separator: "/"), methods) }
        }
    }

    /// The methods routes answer on `path` (empty when no route has this path).
    public func allowedMethods(for path: String) -> [String] {
        let segments = path.split(separator: "/")
        return templates.withLock { templates in
            var allowed: Set<String> = []
            for template in templates where template.segments.count == segments.count {
                let matches = zip(template.segments, segments).allSatisfy { pattern, segment in
                    pattern == segment || (pattern.hasPrefix("{") && pattern.hasSuffix("}")) || pattern == "*"
                }
                if matches { allowed.formUnion(template.methods) }
            }
            return allowed.sorted()
        }
    }
}

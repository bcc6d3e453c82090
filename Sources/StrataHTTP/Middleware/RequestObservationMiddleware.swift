import Foundation
public import Hummingbird
import Logging
import Metrics
import StrataCore
import StrataPostgres
import Synchronization

/// One log line and two metric series per request.
///
/// - Log: `method`, `path` (no query string: it may hold secrets), `status`, `duration_ms`,
///   `route`, with the request id from the logger's metadata; at `info`, or `debug` for the
///   health probes.
/// - `strata_http_requests_total{method,route,status}` (counter) and
///   `strata_http_request_duration_seconds{method,route,status}` (histogram). `route` is the
///   matched route pattern (`/api/helpdesk/tickets/{id}`; Hummingbird's `NotFound` when no route
///   matched), so that the number of series stays bounded.
///
/// Place it inside ``ProblemMiddleware``'s caller chain so that it sees the final status of
/// error responses: `RequestID → Observation → Problem → routes`.
public struct RequestObservationMiddleware: RouterMiddleware {
    public typealias Context = StrataRequestContext

    private let cache = InstrumentCache()

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = start.duration(to: .now)
        let route = context.endpointPath ?? "unmatched"
        let instruments = cache.instruments(method: request.method.rawValue, route: route, status: response.status.code)
        instruments.requests.increment()
        instruments.duration.record(duration: elapsed)
        let quiet = route == "/health" || route == "/ready" || route == "/metrics"
        let audit = context.audit  // the authentication middleware records the actor there
        context.logger.log(
            level: quiet ? .debug : .info,
            "request",
            metadata: [
                "method": .string(request.method.rawValue),
                "path": .string(request.uri.path),
                "route": .string(route),
                "status": .stringConvertible(response.status.code),
                "duration_ms": .string(String(format: "%.2f", elapsed.millisecondsDouble)),
                "strata.actor": .string(audit.actor ?? "anonymous"),
            ]
        )
        return response
    }
}

/// The counter and histogram of each (method, route, status), created once: creating them
/// per request would look them up in the metrics registry under its lock every time.
final class InstrumentCache: Sendable {
    struct Key: Hashable {
        var method: String
        var route: String
        var status: Int
    }

    struct Instruments: Sendable {
        var requests: Counter
        var duration: Metrics.Timer
    }

    private let storage = Mutex<[Key: Instruments]>([:])

    func instruments(method: String, route: String, status: Int) -> Instruments {
        let key = Key(method: method, route: route, status: status)
        return storage.withLock { cache in
            if let found = cache[key] { return found }
            let dimensions = [("method", method), ("route", route), ("status", "\(status)")]
            let made = Instruments(
                requests: Counter(label: "strata_http_requests_total", dimensions: dimensions),
                duration: Metrics.Timer(label: "strata_http_request_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
            )
            cache[key] = made
            return made
        }
    }
}

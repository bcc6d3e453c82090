import HTTPTypes
public import Hummingbird
import Logging
import NIOCore
import StrataCore
public import StrataPostgres

/// Gives every mutating API request (`POST`, `PUT`, `PATCH`, `DELETE` under `/api/`) an
/// ``AuditTrail`` with its facts — client IP, user agent, request id, W3C trace id, and the
/// body as JSON with secrets redacted — and makes sure it leaves an audit entry: when the
/// request ends without the service having recorded one (it was rejected, or failed), the
/// middleware records `http.<method>` on the route with the response status, in a transaction
/// of its own. An audit write that fails is logged; it never changes the response.
public struct AuditMiddleware: RouterMiddleware {
    public typealias Context = StrataRequestContext
    let pool: PostgresPool
    let apps: Set<String>

    /// - Parameters:
    ///   - pool: Where entries go.
    ///   - apps: The server's module names: `/api/<app>/…` is recorded under its app only when it
    ///     is one of these (else under `strata`), so a made-up path cannot invent apps.
    public init(pool: PostgresPool, apps: Set<String>) {
        self.pool = pool
        self.apps = apps
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.isAudited(request) else { return try await next(request, context) }
        var request = request
        let body = try await request.collectBody(upTo: context.bodyLimit)
        let trail = context.audit
        trail.facts = AuditRecord.RequestFacts(
            ip: context.clientIP,
            userAgent: request.headers[.userAgent],
            requestID: context.requestID.isEmpty ? nil : context.requestID,
            traceID: context.traceID,
            redactedBody: Self.redactedBody(body)
        )
        let status: Int
        do {
            let response = try await next(request, context)
            status = Int(response.status.code)
            if !trail.isRecorded { await recordFallback(request, trail: trail, status: status, logger: context.logger) }
            return response
        } catch {
            status = Int(StrataError.fromHTTP(error, routeMatched: context.endpointPath != nil).httpStatus.code)
            if !trail.isRecorded { await recordFallback(request, trail: trail, status: status, logger: context.logger) }
            throw error
        }
    }

    static func isAudited(_ request: Request) -> Bool {
        switch request.method {
        case .post, .put, .patch, .delete: request.uri.path.hasPrefix("/api/")
        default: false
        }
    }

    /// The app of `/api/<app>/…`, when it is one of the server's; else `strata`.
    func app(of path: String) -> String {
        let parts = path.split(separator: "/", maxSplits: 3)
        guard parts.count >= 2, parts[0] == "api", apps.contains(String(parts[1])) else { return "strata" }
        return String(parts[1])
    }

    static func redactedBody(_ body: ByteBuffer) -> String? {
        guard body.readableBytes > 0 else { return nil }
        let bytes = body.readableBytesView
        return SecretRedaction.redactedJSON(bytes) ?? "{\"unparsed_bytes\": \(bytes.count)}"
    }

    private func recordFallback(_ request: Request, trail: AuditTrail, status: Int, logger: Logger) async {
        let path = request.uri.path
        let record = AuditRecord(
            app: app(of: path),
            actor: nil,
            action: "http.\(request.method.rawValue.lowercased())",
            resourceType: "route",
            resourceID: String(path.prefix(500)),
            responseStatus: status
        )
        do {
            _ = try await pool.withConnection { connection in
                try await trail.record(record, on: connection, logger: pool.statementLogger)
            }
        } catch {
            // During a reported outage the request itself was refused; nothing more to say per request.
            logger.log(
                level: (error as? StrataError)?.isReportedOutage == true ? .debug : .warning,
                "an audit entry could not be written",
                metadata: ["strata.error": "\(error)"]
            )
        }
    }
}

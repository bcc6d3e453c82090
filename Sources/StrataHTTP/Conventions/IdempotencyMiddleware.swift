import Foundation
public import HTTPTypes
public import Hummingbird
import Logging
import NIOCore
import StrataCore
public import StrataPostgres

/// `Idempotency-Key` on `POST` under `/api/`: the first response to a key is kept for 24 h (per
/// principal and route) and a retry gets it again byte for byte, with
/// `Idempotent-Replayed: true`; the same key with a different query, Content-Type or body is 422; a retry while the
/// first request runs is 409. The handler runs inside one transaction with the stored response
/// (``PostgresPool/withEnclosingTransaction(_:)``): a request that fails with an error or a 5xx,
/// or whose server dies before the commit, leaves neither its change nor its key, so a retry
/// runs again; once committed, a retry gets the response.
public struct IdempotencyMiddleware: RouterMiddleware {
    public typealias Context = StrataRequestContext
    let store: IdempotencyStore
    /// Response headers kept with the body.
    static let keptHeaders: [HTTPField.Name] = [.contentType, .location, .eTag]

    public init(pool: PostgresPool) {
        self.store = IdempotencyStore(pool: pool)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .post, request.uri.path.hasPrefix("/api/"), let key = request.headers[.idempotencyKey] else {
            return try await next(request, context)
        }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else {
            throw StrataError.validation([.init(field: "Idempotency-Key", reason: "must be 1 to 255 visible ASCII characters")])
        }
        var request = request
        let body = try await request.collectBody(upTo: context.bodyLimit)
        let scope = IdempotencyStore.Scope(
            principal: context.principal.map { "\($0.kind.rawValue):\($0.id)" } ?? "anonymous:\(context.clientIP ?? "unknown")",
            route: "POST \(request.uri.path)",
            key: key
        )
        let fingerprint = IdempotencyStore.fingerprint(
            query: request.uri.query,
            contentType: request.headers[.contentType],
            body: body.readableBytesView
        )
        let collected = request
        // One transaction for the key, the change and the stored response: the response commits
        // with the change or not at all, so a crash in between leaves nothing to replay and
        // nothing created, and a retry runs again.
        return try await store.pool.withEnclosingTransaction { connection in
            switch try await store.claim(scope, fingerprint: fingerprint, on: connection) {
            case .replay(let stored):
                var headers = HTTPFields()
                for (name, value) in stored.headers { if let field = HTTPField.Name(name) { headers[field] = value } }
                headers[.idempotentReplayed] = "true"
                let response = Response(
                    status: HTTPResponse.Status(code: stored.status),
                    headers: headers,
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: stored.body))
                )
                return (response, commit: false)
            case .proceed:
                var response = try await next(collected, context)
                // A server error keeps nothing: the change (if any) rolls back and a retry runs again.
                guard response.status.code < 500 else { return (response, commit: false) }
                // Keep the body to replay it, and send the same bytes now.
                let collector = BodyCollector()
                try await response.body.write(collector)
                let bytes = collector.bytes
                var headers: [String: String] = [:]
                for name in Self.keptHeaders { if let value = response.headers[name] { headers[name.canonicalName] = value } }
                try await store.remember(
                    scope,
                    fingerprint: fingerprint,
                    response: .init(status: Int(response.status.code), headers: headers, body: bytes),
                    on: connection
                )
                response.body = ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
                return (response, commit: true)
            }
        }
    }
}

/// A response-body writer that keeps what is written.
final class BodyCollector: ResponseBodyWriter, @unchecked Sendable {
    private(set) var bytes: [UInt8] = []

    func write(_ buffer: ByteBuffer) async throws {
        bytes += buffer.readableBytesView
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

extension HTTPField.Name {
    /// `Idempotency-Key`.
    public static let idempotencyKey = Self("Idempotency-Key")!
    /// `Idempotent-Replayed`: set on a response replayed for a repeated `Idempotency-Key`.
    public static let idempotentReplayed = Self("Idempotent-Replayed")!
}

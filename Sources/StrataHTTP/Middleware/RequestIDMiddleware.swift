public import HTTPTypes
public import Hummingbird
import Logging
import StrataCore

/// Accepts the client's `X-Request-ID` when it is 1–128 characters of `[A-Za-z0-9._-]`,
/// otherwise generates one; puts it in the context and the logger metadata
/// (`strata.request.id`) and echoes it on every response, errors included. A well-formed W3C
/// `traceparent` puts its trace id in the context (and so in audit entries) and in the logger
/// metadata (`strata.trace.id`).
public struct RequestIDMiddleware: RouterMiddleware {
    public typealias Context = StrataRequestContext

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let id = request.headers[.xRequestID].flatMap { Self.isAcceptable($0) ? $0 : nil } ?? Self.generate()
        context.requestID = id
        context.logger[metadataKey: "strata.request.id"] = .string(id)
        context.logger[metadataKey: "hb.request.id"] = nil  // one id per request in the logs: ours
        if let traceID = request.headers[.traceparent].flatMap(Self.traceID(fromTraceparent:)) {
            context.traceID = traceID
            context.logger[metadataKey: "strata.trace.id"] = .string(traceID)
        }
        var response = try await next(request, context)
        response.headers[.xRequestID] = id
        return response
    }

    /// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), when well-formed.
    static func traceID(fromTraceparent value: String) -> String? {
        let parts = value.split(separator: "-")
        guard parts.count == 4, parts[0].count == 2, parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
            parts.allSatisfy({ $0.allSatisfy(\.isHexDigit) }), parts[1] != String(repeating: "0", count: 32)
        else { return nil }
        return parts[1].lowercased()
    }

    static func isAcceptable(_ id: String) -> Bool {
        (1...128).contains(id.utf8.count)
            && id.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
            }
    }

    static func generate() -> String {
        SecureRandom.hex(bytes: 16)
    }
}

extension HTTPField.Name {
    /// `X-Request-ID`.
    public static let xRequestID = Self("X-Request-ID")!
    /// W3C Trace Context `traceparent`.
    public static let traceparent = Self("traceparent")!
}

import Foundation
import Hummingbird
import NIOHTTP1
public import StrataCore

extension StrataError {
    /// Turns any error reaching the HTTP layer into a ``StrataError``: Hummingbird's own
    /// `HTTPError`s (unknown route, body too large, bad JSON …), `DecodingError`s from JSON
    /// bodies, and anything else as `internal_error`.
    public static func fromHTTP(_ error: any Error, routeMatched: Bool) -> StrataError {
        switch error {
        case let error as StrataError:
            return error
        case let error as HTTPParserError:
            // The connection ended or broke mid-request (a client gone, or closed by a timeout).
            return StrataError(.malformedBody, "The request could not be read to its end: \(error).", underlying: error)
        case let error as DecodingError:
            return StrataError(
                .malformedBody,
                "The JSON body does not match what this endpoint expects: \(error.safeDescription)",
                underlying: error
            )
        case let error as HTTPError:
            switch error.status {
            case .notFound:
                // Handlers report missing resources as StrataError; Hummingbird's own 404 means no route.
                return StrataError(.routeNotFound, "No route matches this path.", underlying: error)
            case .contentTooLarge:
                return StrataError(.payloadTooLarge, "The request body is larger than allowed.", underlying: error)
            case .unsupportedMediaType:
                return StrataError(.unsupportedMediaType, error.body ?? "The Content-Type is not supported here.", underlying: error)
            case .badRequest:
                return StrataError(.malformedBody, error.body ?? "The request is malformed.", underlying: error)
            case .methodNotAllowed:
                return StrataError(.methodNotAllowed, "This method is not allowed on this path.", underlying: error)
            default:
                let kind: Kind = error.status.code >= 500 ? .internal : .invalidInput
                return StrataError(Code("http_\(error.status.code)", kind: kind), error.body ?? error.status.reasonPhrase, underlying: error)
            }
        default:
            return StrataError(.internalError, "Unexpected error.", underlying: error)
        }
    }
}

extension DecodingError {
    /// Where decoding failed and why, without echoing values.
    var safeDescription: String {
        func path(_ context: Context) -> String {
            let joined = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return joined.isEmpty ? "the body" : "'\(joined)'"
        }
        switch self {
        case .keyNotFound(let key, let context):
            let parent = context.codingPath.isEmpty ? "" : " in \(path(context))"
            return "missing field '\(key.stringValue)'\(parent)"
        case .typeMismatch(let type, let context): return "\(path(context)) should be \(type)"
        case .valueNotFound(let type, let context): return "\(path(context)) should be \(type), not null"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "the body is not valid JSON" : "\(path(context)) is not valid"
        @unknown default: return "the body is not valid"
        }
    }
}

public import Foundation

/// Strata's one JSON configuration, for responses, request bodies, events, job arguments and
/// JSON stored in PostgreSQL or Redis alike: keys sorted (stable output, comparable bytes),
/// slashes unescaped, dates as RFC 3339 text — never Foundation's default of seconds since
/// 2001. Code makes its encoders and decoders here and nowhere else (a conventions test checks
/// the sources).
extension JSONEncoder {
    /// The encoder: sorted keys, unescaped slashes, ISO 8601 dates. (What ``JSONWritable`` types
    /// write by hand, faster.)
    /// - Parameter pretty: Indented output, for people (the CLI's `--json`).
    public static func api(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }
}

extension JSONDecoder {
    /// The decoder: dates are strict RFC 3339 (``RFC3339``), with or without fractional
    /// seconds; anything else in a date field is a `DecodingError` (answered 400
    /// `malformed_body` for a request body).
    public static func api() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = RFC3339.date(from: text) else {
                throw DecodingError.dataCorruptedError(
                    in: container,
                    debugDescription: "Expected an RFC 3339 date-time such as 2026-01-31T08:00:00Z."
                )
            }
            return date
        }
        return decoder
    }
}

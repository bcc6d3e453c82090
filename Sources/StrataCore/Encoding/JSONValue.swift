import Foundation

/// Any JSON value: what a free-form field (task parameters, result data, event payloads) holds
/// when the platform keeps it without a schema of its own.
///
/// Numbers are `Double`s: integers beyond ±2^53 lose precision.
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Parses JSON text.
    /// - Throws: `invalid_value` when the text is not JSON.
    public init(parsing text: String) throws {
        if let value = JSONScanner.parse(text) {
            self = value
            return
        }
        do {
            self = try JSONDecoder.api().decode(JSONValue.self, from: Data(text.utf8))
        } catch {
            throw StrataError(.invalidValue, "The text is not valid JSON.", underlying: error)
        }
    }

    /// The value as compact JSON text with sorted keys (what is bound to a `jsonb` parameter).
    public var text: String {
        String(decoding: jsonBytes, as: UTF8.self)
    }

    /// The members, when the value is an object.
    public var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The number, when the value is one.
    public var numberValue: Double? {
        if case .number(let number) = self { return number }
        return nil
    }

    /// The elements, when the value is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// The string, when the value is one.
    public var stringValue: String? {
        if case .string(let string) = self { return string }
        return nil
    }

    /// The member `key` of an object.
    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }
}

extension JSONValue: JSONWritable {
    public func write(to json: inout JSONWriter) {
        switch self {
        case .null: json.null()
        case .bool(let value): json.value(value)
        case .number(let value): json.value(value)
        case .string(let value): json.value(value)
        case .array(let values): json.array(values) { $1.write(to: &$0) }
        case .object(let members): json.object(members) { $1.write(to: &$0) }
        }
    }
}

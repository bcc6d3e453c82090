public import Foundation

/// A JSON document kept as its text — a `jsonb` column read as `::text` — and written into a
/// response as it is, never parsed on the way: a workflow's nodes, an execution's result.
///
/// ``JSONWritable/write(to:)`` copies the text; the `Encodable` conformance (the reference,
/// for `JSONEncoder`) parses it. The two outputs are equal as JSON, not byte for byte:
/// PostgreSQL writes `jsonb` with its own spacing and key order.
public struct RawJSON: Sendable, Hashable, JSONWritable {
    /// The document's text.
    public let text: String

    /// A document from its text (trusted to be JSON: what PostgreSQL returned).
    public init(_ text: String) {
        self.text = text
    }

    /// A document from a value.
    public init(_ value: JSONValue) {
        self.text = value.text
    }

    /// The document parsed. - Throws: when the text is not JSON.
    public func value() throws -> JSONValue {
        try JSONValue(parsing: text)
    }

    public func encode(to encoder: any Encoder) throws {
        try value().encode(to: encoder)
    }

    public func write(to json: inout JSONWriter) {
        json.raw(text.utf8)
    }
}

extension JSONWriter {
    /// Writes a member, `null` for `nil` (a key the document always carries).
    public mutating func field(_ key: StaticString, orNull value: String?) {
        self.key(key)
        if let value { self.value(value) } else { null() }
    }

    /// Writes a member, `null` for `nil`.
    public mutating func field(_ key: StaticString, orNull value: Double?) {
        self.key(key)
        if let value { self.value(value) } else { null() }
    }

    /// Writes a member, `null` for `nil`.
    public mutating func field(_ key: StaticString, orNull value: UUID?) {
        self.key(key)
        if let value { self.value(value) } else { null() }
    }

    /// Writes a member, `null` for `nil`.
    public mutating func field(_ key: StaticString, orNull value: Date?) {
        self.key(key)
        if let value { self.value(value) } else { null() }
    }

    /// Writes a member, `null` for `nil`.
    public mutating func field(_ key: StaticString, orNull value: (some JSONWritable)?) {
        self.key(key)
        if let value { value.write(to: &self) } else { null() }
    }
}

import Foundation

/// An opaque keyset-pagination cursor: the sort-key values of the last row of a page.
///
/// Clients see a URL-safe base64 string and send it back unchanged; repositories read the
/// values and continue with `WHERE (created_at, id) < ($1, $2) ORDER BY created_at DESC, id DESC`.
/// A cursor that was not made here (edited, truncated, another route's) is refused as
/// `invalid_value`, never half-read.
///
/// ```swift
/// // created_at as whole microseconds, selected and compared in SQL
/// // (`timestamptz 'epoch' + $1 * interval '1 microsecond'`): a formatted or `Date` timestamp
/// // can be off by a microsecond, and rows of one transaction share a timestamp.
/// let next = Cursor(values: ["\(lastCreatedAtMicros)", last.id.uuidString])
/// page.nextCursor = next.encoded
/// let (micros, id) = try (cursor.string(at: 0), cursor.string(at: 1))
/// ```
public struct Cursor: Sendable, Equatable {
    /// The sort-key values, in the order of the `ORDER BY`.
    public var values: [String]

    public init(values: [String]) {
        self.values = values
    }

    /// The cursor as clients see it.
    public var encoded: String {
        var json = JSONWriter(capacity: 96)
        json.object { json in json.field("v", values) }
        return Base64URL.encode(json.bytes)
    }

    /// Reads a cursor a client sent back.
    /// - Throws: `invalid_value` (field `cursor`) when it is not one of ours.
    public init(decoding text: String) throws {
        let refused = StrataError.validation([.init(field: "cursor", reason: "is not a cursor this API returned")])
        guard text.utf8.count <= 2048 else { throw refused }
        guard let data = Base64URL.decode(text), let payload = try? JSONDecoder.api().decode(Payload.self, from: Data(data)), !payload.v.isEmpty
        else { throw refused }
        self.values = payload.v
    }

    /// The value at `index`.
    /// - Throws: `invalid_value` when the cursor has fewer values.
    public func string(at index: Int) throws -> String {
        guard values.indices.contains(index) else {
            throw StrataError.validation([.init(field: "cursor", reason: "is not a cursor this API returned")])
        }
        return values[index]
    }

    private struct Payload: Codable {
        var v: [String]
    }
}

/// One page of a keyset-paginated list — and the body of every list the API returns:
/// `{"items": […], "next_cursor": …}`, with a `null` cursor on the last page and on lists that
/// are returned whole (``complete(_:)``).
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    /// The cursor for the next page, `nil` on the last one.
    public var nextCursor: String?

    public init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }

    /// A list returned whole: one page with no next one.
    public static func complete(_ items: [Item]) -> Page { Page(items: items, nextCursor: nil) }

    /// A page of a list read in order of a growing position (log lines, messages, progress
    /// reports): a full page's next cursor is its last item's position; a shorter one has
    /// reached the end for now.
    public static func byPosition(_ items: [Item], limit: Int, position: (Item) -> Int64) -> Page {
        let next = items.count >= limit ? items.last.map { Cursor(values: ["\(position($0))"]).encoded } : nil
        return Page(items: items, nextCursor: next)
    }
}

extension Page: Encodable where Item: Encodable {
    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}

extension Page: JSONWritable where Item: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("items", items)
            json.key("next_cursor")
            if let nextCursor { json.value(nextCursor) } else { json.null() }
        }
    }
}

public import Foundation
public import PostgresNIO
public import StrataCore

/// A row id a keyset cursor can carry: written as text in the cursor, bound as itself in SQL.
public protocol KeysetID: PostgresNonThrowingEncodable, Sendable {
    init?(cursorText: String)
    var cursorText: String { get }
}

extension UUID: KeysetID {
    public init?(cursorText: String) { self.init(uuidString: cursorText) }
    public var cursorText: String { uuidString }
}

extension Int64: KeysetID {
    public init?(cursorText: String) { self.init(cursorText) }
    public var cursorText: String { String(self) }
}

/// Keyset paging of a list ordered newest first: `ORDER BY created_at DESC, id DESC`.
///
/// The cursor carries `created_at` as whole microseconds, read and compared in SQL (a `Date`
/// round trip can be a microsecond off, and the rows of one transaction share a timestamp),
/// and the row's id. A list selects ``positionColumn`` last, filters with `\(after:)`, fetches
/// one row more than the page and lets ``page(_:limit:item:id:)`` cut it:
///
/// ```swift
/// let position = try NewestFirst<UUID>(after: cursor)
/// let rows = try await pool.query(
///     """
///     SELECT \(unescaped: columns), \(unescaped: NewestFirst<UUID>.positionColumn) FROM simjobs.structures
///     WHERE \(after: position)
///     ORDER BY created_at DESC, id DESC
///     LIMIT \(limit + 1)
///     """
/// )
/// return try position.page(rows, limit: limit, item: Structure.init(row:), id: \.id)
/// ```
public struct NewestFirst<ID: KeysetID>: Sendable {
    /// The `created_at` (microseconds since 1970) and id of the last row of the previous page.
    public var after: (micros: Int64, id: ID)?

    /// The SQL expression to select as a list's last column.
    public static var positionColumn: String { "(extract(epoch FROM created_at) * 1000000)::bigint" }

    /// The position a client's cursor names; `nil` is the first page.
    /// - Throws: `validation_failed` (field `cursor`) for a cursor of another list.
    public init(after cursor: Cursor?) throws {
        guard let cursor else { return }
        guard let micros = Int64(try cursor.string(at: 0)), let id = ID(cursorText: try cursor.string(at: 1)) else {
            throw StrataError.validation([.init(field: "cursor", reason: "is not a cursor of this list")])
        }
        after = (micros, id)
    }

    /// The page in `rows` (fetched with `LIMIT limit + 1`, ``positionColumn`` last) and the
    /// cursor of the next one when there is more.
    public func page<Item: Sendable>(
        _ rows: [PostgresRow],
        limit: Int,
        item: (PostgresRow) throws -> Item,
        id: (Item) -> ID
    ) throws -> Page<Item> {
        let kept = rows.prefix(limit)
        let items = try kept.map(item)
        var next: String?
        if rows.count > limit, let last = kept.last, let lastItem = items.last {
            let columns = last.makeRandomAccess()
            let micros = try columns[columns.count - 1].decode(Int64.self)
            next = Cursor(values: ["\(micros)", id(lastItem).cursorText]).encoded
        }
        return Page(items: items, nextCursor: next)
    }
}

extension PostgresQuery.StringInterpolation {
    /// `(created_at, id) < (<position>)`, or `true` on the first page.
    public mutating func appendInterpolation<ID: KeysetID>(after position: NewestFirst<ID>) {
        guard let (micros, id) = position.after else {
            appendInterpolation(unescaped: "true")
            return
        }
        appendInterpolation(unescaped: "(created_at, id) < (timestamptz 'epoch' + ")
        appendInterpolation(micros)
        appendInterpolation(unescaped: "::bigint * interval '1 microsecond', ")
        appendInterpolation(id)
        appendInterpolation(unescaped: ")")
    }
}

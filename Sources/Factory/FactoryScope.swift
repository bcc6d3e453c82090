import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// The factory's row scopes: a caller limited to some factories (`factory_ids`) or lines
/// (`line_ids`) reaches only their rows. Every statement on the app's scoped tables runs through
/// ``security`` (PostgreSQL row-level security, the policies in the app's first migration), so
/// the SQL itself never filters by scope and cannot forget to.
enum FactoryScope {
    /// The scope names, as principals and callers carry them.
    static let factories = "factory_ids"
    static let lines = "line_ids"

    /// The role and settings the migration's policies read.
    static let security = RowSecurity(role: "strata_factory_scoped", settingPrefix: "factory", scopes: [factories, lines])

    /// The answer when a write names a line the transaction cannot see: for a caller limited to
    /// some lines it is outside their scope (403, the line's existence untold); for one who sees
    /// every line it does not exist (422).
    static func lineRefused(_ caller: Caller, field: String = "line_id") -> StrataError {
        isLimited(caller)
            ? StrataError(.forbidden, "This line is outside your scope.", details: ["scope": lines])
            : StrataError(.invalidReference, "No production line has this id.", details: ["field": field])
    }

    /// Whether the caller is limited to some factories or lines.
    static func isLimited(_ caller: Caller) -> Bool {
        caller.scope(factories) != nil || caller.scope(lines) != nil
    }

    /// An id of the plant's own naming (factory, line, station, user; a graph node's, up to 100):
    /// 1 to `maxLength` letters, digits and `_ . : -`, starting with a letter or digit.
    static func isPlantID(_ text: String, maxLength: Int = 50) -> Bool {
        guard let first = text.utf8.first, (1...maxLength).contains(text.utf8.count) else { return false }
        func isAlphanumeric(_ byte: UInt8) -> Bool { (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) }
        return isAlphanumeric(first) && text.utf8.allSatisfy { isAlphanumeric($0) || $0 == 95 || $0 == 46 || $0 == 58 || $0 == 45 }
    }
}

extension PostgresRandomAccessRow {
    /// A column as a JSON value (selected as text); `nil` for SQL NULL.
    func json(_ name: String) throws -> JSONValue? {
        try self[name].decode(String?.self).map { try JSONValue(parsing: $0) }
    }
}

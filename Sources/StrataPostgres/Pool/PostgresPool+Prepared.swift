public import Logging
public import PostgresNIO

/// Statements run often with the same text are better prepared: postgres-nio prepares a
/// `PostgresPreparedStatement` once per connection and PostgreSQL then keeps its parse tree and
/// plan, where a `PostgresQuery` is parsed and planned anew on every run. For a statement like a
/// work order's detail (a lateral join over its steps) planning costs more than running.
extension PostgresPool {
    /// Runs a prepared statement on a pooled connection and returns all its rows.
    /// - Throws: A mapped ``StrataError``.
    public func rows<Statement: PostgresPreparedStatement>(_ statement: Statement) async throws -> [Statement.Row] where Statement.Row: Sendable {
        try await withConnection { connection in try await connection.rows(statement, logger: self.queryLogger) }
    }
}

extension PostgresConnection {
    /// Runs a prepared statement (prepared on this connection on first use) and returns all its rows.
    public func rows<Statement: PostgresPreparedStatement>(_ statement: Statement, logger: Logger) async throws -> [Statement.Row] {
        var rows: [Statement.Row] = []
        for try await row in try await execute(statement, logger: logger) { rows.append(row) }
        return rows
    }
}

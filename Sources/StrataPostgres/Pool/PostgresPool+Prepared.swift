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
    ///
    /// Every statement of ours names itself (`static let name = "<module>.<Type>"`): the name
    /// postgres-nio gives by default is the type's name, worked out anew on every execution,
    /// a measurable share of a short read's work in the client.
    public func rows<Statement: PostgresPreparedStatement>(_ statement: Statement, logger: Logger) async throws -> [Statement.Row] {
        var rows: [Statement.Row] = []
        for try await row in try await execute(statement, logger: logger) { rows.append(row) }
        return rows
    }
}

/// A prepared statement that other prepared statements can embed (as a `WITH` clause), so that
/// two writes that always go together take one round trip while each keeps one definition: its
/// SQL is written for parameters numbered from any first one, and it appends its own bindings.
protocol EmbeddableStatement: PostgresPreparedStatement {
    /// The statement's SQL with `parameters[i]` (`$n`) standing for its `i`th binding.
    static func statement(parameters: [String]) -> String
    /// Appends the statement's bindings, in the order of `bindingDataTypes`.
    func appendBindings(to bindings: inout PostgresBindings)
}

extension EmbeddableStatement {
    /// The statement's SQL, its parameters numbered from `first` (1 when it runs on its own).
    static func statement(parametersFrom first: Int) -> String {
        statement(parameters: (0..<bindingDataTypes.count).map { "$\(first + $0)" })
    }

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: Self.bindingDataTypes.count)
        appendBindings(to: &bindings)
        return bindings
    }
}

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
    /// Runs a prepared statement (prepared on this connection on first use) and returns all its
    /// rows; refused at once on a closed connection, as ``run(_:logger:file:line:)``.
    ///
    /// Every statement of ours names itself (`static let name = "<module>.<Type>"`): the name
    /// postgres-nio gives by default is the type's name, worked out anew on every execution,
    /// a measurable share of a short read's work in the client.
    ///
    /// A statement whose preparation failed stays failed on its connection: postgres-nio
    /// remembers the error and answers every later use with it, without asking the server again.
    /// So an error that may have come from preparing it (an undefined table before the
    /// migrations ran, a statement in an aborted transaction, a lock or statement timeout, a
    /// lost connection) closes the connection, and the pool opens a fresh one; an error only
    /// running it can cause (bad data, a constraint, a serialization failure, a trigger's
    /// exception) leaves the connection as it is.
    public func rows<Statement: PostgresPreparedStatement>(_ statement: Statement, logger: Logger) async throws -> [Statement.Row] {
        try checkOpen()
        do {
            var rows: [Statement.Row] = []
            for try await row in try await execute(statement, logger: logger) { rows.append(row) }
            return rows
        } catch let error as PSQLError {
            if !Self.arisesOnlyWhenRunning(error) { try? await close() }
            throw error
        }
    }

    /// SQLSTATE classes a prepared statement's execution can end with but not its preparation:
    /// data exceptions, integrity constraints, transaction rollbacks, PL/pgSQL raises.
    private static let runningErrorClasses: Set<Substring> = ["22", "23", "40", "P0"]

    private static func arisesOnlyWhenRunning(_ error: PSQLError) -> Bool {
        guard error.code == .server, let state = error.serverInfo?[.sqlState] else { return false }
        return runningErrorClasses.contains(state.prefix(2))
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

/// Most of our prepared statements hand their rows on as they come, decoded by the caller.
extension PostgresPreparedStatement where Row == PostgresRow {
    /// The row itself.
    public func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

/// A prepared read of one binding, `key` (`$1`): a row by its id, a line's overview.
///
/// ```swift
/// struct ByID: PreparedLookup {
///     static let name = "factory.AnomalyByID"
///     static let sql = "SELECT … FROM factory.anomalies WHERE anomaly_id = $1"
///     static let bindingDataTypes: [PostgresDataType] = [.uuid]
///     var key: UUID
/// }
/// let rows = try await connection.rows(ByID(key: id), logger: logger)
/// ```
public protocol PreparedLookup: PostgresPreparedStatement where Row == PostgresRow {
    associatedtype Key: PostgresThrowingDynamicTypeEncodable
    /// The value bound to `$1`.
    var key: Key { get }
}

extension PreparedLookup {
    /// `key`, as `$1`.
    public func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        try bindings.append(key)
        return bindings
    }
}

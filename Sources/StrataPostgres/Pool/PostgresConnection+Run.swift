public import Logging
public import PostgresNIO
import StrataCore

// Every statement of ours runs through `run` (plain) or `rows` (prepared), never postgres-nio's
// `query`/`execute` directly.

extension PostgresConnection {
    /// Runs one statement on this connection: postgres-nio's `query`, refused at once with
    /// `database_unavailable` when the connection has closed.
    ///
    /// postgres-nio 1.33 drops a statement written to a connection whose channel is already
    /// torn down without ever answering it, and its caller waits for ever: a transaction whose
    /// server went away between two statements, or the `ROLLBACK` after a statement failed
    /// because it did. The pool runs its callers on their connection's event loop, where this
    /// check and the write that follows cannot be separated by the close.
    @discardableResult
    public func run(
        _ query: PostgresQuery,
        logger: Logger,
        file: String = #fileID,
        line: Int = #line
    ) async throws -> PostgresRowSequence {
        try checkOpen()
        return try await self.query(query, logger: logger, file: file, line: line)
    }

    /// Throws `database_unavailable` when the connection has closed (see ``run(_:logger:file:line:)``).
    func checkOpen() throws {
        if isClosed {
            throw StrataError(.databaseUnavailable, "The database connection closed; retry shortly.")
        }
    }
}

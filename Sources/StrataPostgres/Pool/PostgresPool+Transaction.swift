public import PostgresNIO
import StrataCore

/// The isolation level of a transaction.
public enum IsolationLevel: String, Sendable, CaseIterable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

extension PostgresPool {
    /// Runs the closure inside one transaction and commits it, retrying the whole closure a
    /// bounded number of times when PostgreSQL reports a serialization failure or deadlock.
    /// Inside an ``EnclosingTransaction`` of this pool it is a savepoint of that transaction
    /// instead, committed with it.
    ///
    /// The closure may therefore run more than once: keep side effects other than the
    /// database's (HTTP calls, Redis writes) outside it. The connection must not escape.
    ///
    /// ```swift
    /// let id = try await pool.withTransaction(isolation: .serializable) { connection in
    ///     try await connection.run("UPDATE … RETURNING id", logger: pool.statementLogger)…
    /// }
    /// ```
    /// - Parameters:
    ///   - isolation: The isolation level (default read committed).
    ///   - readOnly: Starts a `READ ONLY` transaction.
    ///   - maxAttempts: Total attempts on serialization failure or deadlock (default 3).
    /// - Throws: `concurrent_update` when every attempt collided; any other mapped error at once.
    public func withTransaction<Result: Sendable>(
        isolation: IsolationLevel = .readCommitted,
        readOnly: Bool = false,
        maxAttempts: Int = 3,
        _ body: @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let begin = "BEGIN ISOLATION LEVEL \(isolation.rawValue)\(readOnly ? " READ ONLY" : "")"
        // 10-20 ms, then 20-40 ms, … between attempts.
        let backoff = Backoff(initial: .milliseconds(15), maximum: .seconds(1), jitter: 0.67...1.33)
        let isCollision: (any Error) -> Bool = { error in
            guard (error as? StrataError)?.code == .concurrentUpdate else { return false }
            self.logger.debug("retrying transaction after a concurrent update")
            return true
        }
        return try await backoff.retrying(attempts: maxAttempts, when: isCollision) {
            // Inside an enclosing transaction (an idempotent request): a savepoint of it, at its
            // isolation level; a collision rolls back to the savepoint and retries.
            if let enclosing = EnclosingTransaction.joinable(by: self) { return try await withSavepoint(in: enclosing, body) }
            return try await withConnection { connection in
                try await connection.run(PostgresQuery(unsafeSQL: begin), logger: self.queryLogger)
                let result: Result
                do {
                    result = try await body(connection)
                    try await connection.run("COMMIT", logger: self.queryLogger)
                } catch {
                    await self.rollBack(connection)
                    throw error
                }
                return result
            }
        }
    }
}

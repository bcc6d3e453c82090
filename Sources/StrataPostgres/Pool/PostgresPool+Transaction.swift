public import PostgresNIO
import StrataCore
import Synchronization

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
        try await transaction(isolation: isolation, readOnly: readOnly, maxAttempts: maxAttempts, overSessionKeyed: nil) { connection, _ in
            try await body(connection)
        }
    }

    /// A read-committed transaction, as ``withTransaction(isolation:readOnly:maxAttempts:_:)``,
    /// for a body that sets its role and settings locally before its first statement: the
    /// connection's kept session settings (``withSession(_:_:)``) are overridden for the
    /// transaction instead of reset — it begins `READ WRITE`, so a kept read-only default does not
    /// apply, and the commit leaves the session as it was. `body` learns whether the session
    /// holds the settings keyed `sessionKey` (``SessionSettings/key``); then it need not set them
    /// again. This saves a scoped write on a connection its scope's reads keep the reset before
    /// it and the settings again after it.
    func withTransaction<Result: Sendable>(
        overSessionKeyed sessionKey: String,
        maxAttempts: Int = 3,
        _ body: @Sendable (_ connection: PostgresConnection, _ sessionHolds: Bool) async throws -> Result
    ) async throws -> Result {
        try await transaction(isolation: .readCommitted, readOnly: false, maxAttempts: maxAttempts, overSessionKeyed: sessionKey, body)
    }

    private func transaction<Result: Sendable>(
        isolation: IsolationLevel,
        readOnly: Bool,
        maxAttempts: Int,
        overSessionKeyed sessionKey: String?,
        _ body: @Sendable (PostgresConnection, Bool) async throws -> Result
    ) async throws -> Result {
        let begin = "BEGIN ISOLATION LEVEL \(isolation.rawValue)\(readOnly ? " READ ONLY" : sessionKey != nil ? " READ WRITE" : "")"
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
            if let enclosing = EnclosingTransaction.joinable(by: self) {
                return try await withSavepoint(in: enclosing) { connection in try await body(connection, false) }
            }
            return try await withLeased(overriding: sessionKey != nil) { entry in
                let sessionHolds = sessionKey != nil && entry.session.withLock({ $0?.key }) == sessionKey
                let connection = entry.connection
                try await connection.run(PostgresQuery(unsafeSQL: begin), logger: self.queryLogger)
                let result: Result
                do {
                    result = try await body(connection, sessionHolds)
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

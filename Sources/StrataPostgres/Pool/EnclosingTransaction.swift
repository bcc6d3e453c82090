public import PostgresNIO
import StrataCore
import Synchronization

/// A transaction held open around a unit of work larger than one service call — an idempotent
/// request, whose stored response must commit with the change it answers, or not at all.
///
/// Opened by ``PostgresPool/withEnclosingTransaction(_:)``. While it runs, every call on the
/// same pool from the same task joins it: ``PostgresPool/withConnection(_:)`` and
/// ``PostgresPool/query(_:file:line:)`` use its connection, and
/// ``PostgresPool/withTransaction(isolation:readOnly:maxAttempts:_:)`` becomes a savepoint, so
/// a service's rollback still undoes only its own statements. Work that must wait for the
/// commit — a cache write, a Redis counter — goes through ``afterCommit(_:)``, which runs it
/// at once outside such a transaction.
///
/// The work inside must use the pool from one task at a time (as with any one connection).
public final class EnclosingTransaction: Sendable {
    /// The enclosing transaction of the current task, if any.
    @TaskLocal static var current: EnclosingTransaction?

    let pool: ObjectIdentifier
    let connection: PostgresConnection

    private struct State {
        var isOpen = true
        var lastSavepoint = 0
        var afterCommit: [@Sendable () async -> Void] = []
    }

    private let state = Mutex(State())

    init(pool: ObjectIdentifier, connection: PostgresConnection) {
        self.pool = pool
        self.connection = connection
    }

    /// The transaction that calls on `pool` join now, if any: one opened on that pool by this
    /// task and not yet ended (a task started inside it and outliving it gets the pool's own
    /// connections again).
    static func joinable(by pool: PostgresPool) -> EnclosingTransaction? {
        guard let current, current.pool == ObjectIdentifier(pool), current.state.withLock({ $0.isOpen }) else { return nil }
        return current
    }

    /// A savepoint name not used before in this transaction.
    func nextSavepoint() -> String {
        let number = state.withLock { state in
            state.lastSavepoint += 1
            return state.lastSavepoint
        }
        return "strata_sp_\(number)"
    }

    /// Runs `action` once the enclosing transaction commits — or now, when the task is not
    /// inside one (the caller's own transaction has committed). Dropped on rollback.
    public static func afterCommit(_ action: @escaping @Sendable () async -> Void) async {
        if let current,
            current.state.withLock({ state in
                guard state.isOpen else { return false }
                state.afterCommit.append(action)
                return true
            })
        {
            return
        }
        await action()
    }

    /// Ends the transaction for the calls that would join it; returns the actions to run after
    /// a commit.
    func end() -> [@Sendable () async -> Void] {
        state.withLock { state in
            state.isOpen = false
            defer { state.afterCommit = [] }
            return state.afterCommit
        }
    }
}

extension PostgresPool {
    /// Runs `body` in one transaction that every call on this pool from the same task joins
    /// (see ``EnclosingTransaction``), then commits it when `body` says so and rolls it back
    /// otherwise (and when it throws). The actions registered with
    /// ``EnclosingTransaction/afterCommit(_:)`` run after the commit.
    ///
    /// Inside another enclosing transaction of this pool, `body` joins that one and its
    /// decision is the outer one's.
    /// - Parameter body: The work, given the transaction's connection; returns its result and
    ///   whether to commit.
    public func withEnclosingTransaction<Result: Sendable>(
        _ body: (PostgresConnection) async throws -> (result: Result, commit: Bool)
    ) async throws -> Result {
        if let joined = EnclosingTransaction.joinable(by: self) { return try await body(joined.connection).result }
        let entry = try await lease()
        defer { connections.release(entry) }
        let connection = entry.connection
        let enclosing = EnclosingTransaction(pool: ObjectIdentifier(self), connection: connection)
        return try await mappingPostgresErrors {
            try await withTaskExecutorPreference(entry.executor) {
                try await connection.run("BEGIN", logger: self.queryLogger)
                let outcome: (result: Result, commit: Bool)
                do {
                    outcome = try await EnclosingTransaction.$current.withValue(enclosing) { try await body(connection) }
                } catch {
                    _ = enclosing.end()
                    await self.rollBack(connection)
                    throw error
                }
                let afterCommit = enclosing.end()
                guard outcome.commit else {
                    await self.rollBack(connection)
                    return outcome.result
                }
                try await connection.run("COMMIT", logger: self.queryLogger)
                for action in afterCommit { await action() }
                return outcome.result
            }
        }
    }

    /// Rolls back; a connection whose state is then unknown is closed rather than handed on.
    func rollBack(_ connection: PostgresConnection) async {
        do {
            try await connection.run("ROLLBACK", logger: queryLogger)
        } catch {
            try? await connection.close()
        }
    }

    /// Runs `body` in a savepoint of the enclosing transaction: released when it returns,
    /// rolled back to (undoing only its statements) when it throws.
    func withSavepoint<Result: Sendable>(
        in enclosing: EnclosingTransaction,
        _ body: @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let name = enclosing.nextSavepoint()
        let connection = enclosing.connection
        return try await mappingPostgresErrors {
            try await connection.run(PostgresQuery(unsafeSQL: "SAVEPOINT \(name)"), logger: self.queryLogger)
            do {
                let result = try await body(connection)
                try await connection.run(PostgresQuery(unsafeSQL: "RELEASE SAVEPOINT \(name)"), logger: self.queryLogger)
                return result
            } catch {
                _ = try? await connection.run(PostgresQuery(unsafeSQL: "ROLLBACK TO SAVEPOINT \(name)"), logger: self.queryLogger)
                throw error
            }
        }
    }
}

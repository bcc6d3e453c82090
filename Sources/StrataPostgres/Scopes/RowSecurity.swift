public import Logging
public import PostgresNIO
public import StrataCore

/// Row-level security for an app's tables: the one way an app whose callers are limited to some
/// rows (a factory user to their lines) runs its statements.
///
/// The app's migration creates a NOLOGIN role, grants it the app's tables and puts PostgreSQL
/// row-level security policies on them that compare each row with the transaction's settings
/// `<app>.<scope>` (`factory.line_ids`): `*` for no limit, otherwise the allowed values joined
/// by commas. ``transaction(on:for:readOnly:_:)`` opens a transaction, becomes that role and
/// sets the caller's scopes, so the statements inside — written without any scope filter — see
/// and write only the caller's rows. A statement that forgets the scope cannot leak; a
/// connection that was never scoped reaches no row at all (an unset setting matches nothing).
/// Inserting or moving a row outside the scope fails the policy's `WITH CHECK` and is answered
/// `forbidden` (403).
///
/// The change's record (outbox, audit, jobs) is written after the role is reset, as the
/// platform's own role.
///
/// ```swift
/// let security = RowSecurity(role: "strata_factory_scoped", settingPrefix: "factory", scopes: ["factory_ids", "line_ids"])
/// let anomaly = try await security.transaction(on: pool, for: caller) { connection in
///     let anomaly = try await store.insert(new, on: connection)           // checked by the policy
///     return (anomaly, change(anomaly))                                   // recorded by ChangeLog
/// }
/// ```
public struct RowSecurity: Sendable {
    /// The role the app's statements run as (created by the app's migration).
    public let role: String
    /// The settings' prefix (the app's name): scope `line_ids` is setting `<prefix>.line_ids`.
    public let settingPrefix: String
    /// The scope names the policies read.
    public let scopes: [String]

    public init(role: String, settingPrefix: String, scopes: [String]) {
        precondition(Self.isIdentifier(role) && Self.isIdentifier(settingPrefix) && scopes.allSatisfy(Self.isIdentifier))
        self.role = role
        self.settingPrefix = settingPrefix
        self.scopes = scopes
    }

    /// The setting's value for one scope: `*` when unlimited, else the values joined by commas
    /// (a value holding a comma or a `*` could only widen the scope, so it is left out).
    static func settingValue(_ values: [String]?) -> String {
        guard let values else { return "*" }
        return values.filter { !$0.contains(",") && !$0.contains("*") && !$0.isEmpty }.joined(separator: ",")
    }

    static func isIdentifier(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }
    }

    /// The statement that makes the connection the caller's: the role and one setting per scope,
    /// local to the transaction — or kept on the session, which then also makes every
    /// transaction read-only (``sessionSettings(for:)``).
    func scopeStatement(for scopes: [String: [String]], onSession: Bool = false) -> PostgresQuery {
        var sql = "SELECT set_config('role', $1, \(!onSession))"
        var bindings = PostgresBindings(capacity: self.scopes.count + 1)
        bindings.append(role)
        for (index, scope) in self.scopes.enumerated() {
            sql += ", set_config('\(settingPrefix).\(scope)', $\(index + 2), \(!onSession))"
            bindings.append(Self.settingValue(scopes[scope]))
        }
        if onSession { sql += ", set_config('default_transaction_read_only', 'on', false)" }
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }

    /// The statement that undoes ``scopeStatement(for:onSession:)``: the session's own role, the
    /// scopes cleared (and, on the session, writes allowed again).
    func resetStatement(onSession: Bool = false) -> PostgresQuery {
        var sql = "SELECT set_config('role', 'none', \(!onSession))"
        for scope in scopes { sql += ", set_config('\(settingPrefix).\(scope)', '', \(!onSession))" }
        if onSession { sql += ", set_config('default_transaction_read_only', 'off', false)" }
        return PostgresQuery(unsafeSQL: sql)
    }

    /// Makes the rest of the connection's transaction the caller's (see the type). Use it in a
    /// transaction the app opened itself; ``reset(_:logger:)`` ends it.
    public func apply(_ scopes: [String: [String]], on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.run(scopeStatement(for: scopes), logger: logger)
    }

    /// Ends the scoped part of a transaction: back to the session's own role, scopes cleared.
    public func reset(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.run(resetStatement(), logger: logger)
    }

    /// Runs `body` in one transaction as the caller's scope, then records the change it returns
    /// (``ChangeLog``) as the platform; returns the body's result. The scope is reset before the
    /// record and inside an enclosing transaction; otherwise the commit ends it.
    /// - Throws: `forbidden` when a row written falls outside the scope; what the body throws.
    public func transaction<Result: Sendable>(
        on pool: PostgresPool,
        for caller: Caller,
        logger: Logger,
        _ body: @Sendable (PostgresConnection) async throws -> (Result, Change?)
    ) async throws -> Result {
        let enclosed = EnclosingTransaction.joinable(by: pool) != nil
        // A session its reads keep scoped (``read(on:for:logger:_:)``) is overridden locally,
        // not reset; when it holds this very scope, nothing need be set.
        return try await pool.withTransaction(overSessionKeyed: sessionKey(for: caller.scopes)) { connection, sessionHolds in
            if !sessionHolds { try await apply(caller.scopes, on: connection, logger: logger) }
            let (result, change) = try await body(connection)
            // The platform's writes follow as the platform; with none, the commit ends the scope.
            if change != nil || enclosed { try await reset(connection, logger: logger) }
            if let change { try await ChangeLog.record(change, by: caller, on: connection, logger: logger) }
            return result
        }
    }

    /// Runs a read as the caller's scope, each statement read-only.
    ///
    /// The scope is kept on a pooled connection's session (``PostgresPool/withSession(_:_:)``):
    /// the next read of the same scope that leases it runs its statements at once, with no
    /// transaction around them (each statement reads its own snapshot, as in a read-committed
    /// transaction), and a lease for anything else gets the session reset first — a statement
    /// outside `read` never runs under a scope it did not set — except a scoped write
    /// (``transaction(on:for:logger:_:)``), which overrides the session within its transaction.
    /// Inside an enclosing transaction (an idempotent request) the read is a read-only savepoint
    /// of it, scoped locally and reset before the enclosing work goes on.
    public func read<Result: Sendable>(
        on pool: PostgresPool,
        for scopes: [String: [String]],
        logger: Logger,
        _ body: @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        guard EnclosingTransaction.joinable(by: pool) != nil else {
            return try await pool.withSession(sessionSettings(for: scopes), body)
        }
        return try await pool.withTransaction(readOnly: true) { connection in
            try await apply(scopes, on: connection, logger: logger)
            let result = try await body(connection)
            try await reset(connection, logger: logger)
            return result
        }
    }

    /// The scope as session settings (``scopeStatement(for:onSession:)`` and
    /// ``resetStatement(onSession:)``), keyed by ``sessionKey(for:)``.
    func sessionSettings(for scopes: [String: [String]]) -> SessionSettings {
        SessionSettings(key: sessionKey(for: scopes), apply: scopeStatement(for: scopes, onSession: true), reset: resetStatement(onSession: true))
    }

    /// What tells a scope's session settings apart: the role and the scopes' values.
    func sessionKey(for scopes: [String: [String]]) -> String {
        ([role] + self.scopes.map { "\(settingPrefix).\($0)=\(Self.settingValue(scopes[$0]))" }).joined(separator: "\u{0}")
    }
}

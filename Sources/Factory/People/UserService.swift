import Foundation
public import Logging
import PostgresNIO
import StrataCore
public import StrataPostgres
import StrataSecurity

/// The plant's users: created by `factory.admin`, signed in through the platform's login
/// (``FactoryUserDirectory``), which stamps `last_login_at`.
public struct UserService: Sendable {
    let pool: PostgresPool
    let logger: Logger

    public init(pool: PostgresPool, logger: Logger = Logger(label: "strata.factory")) {
        self.pool = pool
        self.logger = logger
    }

    /// A new user as an administrator sends it.
    public struct Draft: Sendable, Decodable {
        public var userID: String
        public var username: String
        public var password: String
        public var email: String?
        public var phone: String?
        public var role: FactoryUser.Role?
        public var factoryIDs: [String]?
        public var lineIDs: [String]?
        public var permissions: [String]?

        enum CodingKeys: String, CodingKey {
            case username, password, email, phone, role, permissions
            case userID = "user_id"
            case factoryIDs = "factory_ids"
            case lineIDs = "line_ids"
        }

        public init(
            userID: String,
            username: String,
            password: String,
            role: FactoryUser.Role? = nil,
            factoryIDs: [String]? = nil,
            lineIDs: [String]? = nil,
            permissions: [String]? = nil
        ) {
            self.userID = userID
            self.username = username
            self.password = password
            self.role = role
            self.factoryIDs = factoryIDs
            self.lineIDs = lineIDs
            self.permissions = permissions
        }
    }

    /// Creates a user with a bcrypt hash of the password.
    /// - Throws: `validation_failed` naming each wrong field, `conflict` for a user id,
    ///   username or e-mail in use.
    public func create(_ draft: Draft, by caller: Caller) async throws -> FactoryUser {
        try Self.check(draft)
        // A scoped administrator grants no more than their own scope.
        for (scope, granted) in [(FactoryScope.factories, draft.factoryIDs), (FactoryScope.lines, draft.lineIDs)] {
            guard let own = caller.scope(scope) else { continue }
            guard let granted, Set(granted).isSubset(of: Set(own)) else {
                throw StrataError(.forbidden, "A user cannot be given more than your own '\(scope)' scope.", details: ["scope": scope])
            }
        }
        let hash = try await PasswordHasher.standard.hash(draft.password)
        let (pool, logger) = (pool, logger)
        return try await pool.withTransaction { connection in
            let rows = try await connection.run(
                """
                INSERT INTO factory.users (user_id, username, email, phone, role, factory_ids, line_ids, permissions, password_hash)
                VALUES (\(draft.userID), \(draft.username), \(draft.email), \(draft.phone), \(draft.role?.rawValue ?? "viewer"),
                        \(draft.factoryIDs), \(draft.lineIDs), \(draft.permissions ?? []), \(hash))
                RETURNING \(unescaped: FactoryUser.columns)
                """,
                logger: logger
            ).collect()
            let user = try FactoryUser(row: rows[0])
            try await ChangeLog.record(
                Change(
                    app: "factory",
                    action: "create",
                    resourceType: "user",
                    resourceID: user.userID,
                    status: 201,
                    events: [try OutboxEvent(app: "factory", aggregateType: "user", aggregateID: user.userID, kind: "user.created", payload: user)]
                ),
                by: caller,
                on: connection,
                logger: logger
            )
            return user
        }
    }

    /// The users by id (at most 1,000); a scoped administrator sees those sharing a factory or
    /// line of theirs.
    public func list(scopes: [String: [String]]) async throws -> [FactoryUser] {
        try await users(id: nil, scopes: scopes)
    }

    /// One user (seen as ``list(scopes:)`` sees them).
    /// - Throws: `not_found`.
    public func user(_ id: String, scopes: [String: [String]]) async throws -> FactoryUser {
        guard let user = try await users(id: id, scopes: scopes).first else { throw StrataError(.notFound, "No user has this id.") }
        return user
    }

    func users(id: String?, scopes: [String: [String]]) async throws -> [FactoryUser] {
        let (factories, lines) = (scopes[FactoryScope.factories], scopes[FactoryScope.lines])
        return try await pool.query(
            """
            SELECT \(unescaped: FactoryUser.columns) FROM factory.users
            WHERE (\(id)::text IS NULL OR user_id = \(id))
              AND (\(factories)::text[] IS NULL OR factory_ids && \(factories)::text[])
              AND (\(lines)::text[] IS NULL OR line_ids && \(lines)::text[])
            ORDER BY user_id LIMIT 1000
            """
        ).map(FactoryUser.init(row:))
    }

    /// The user who signs in with `login` (username or e-mail, in any case) and their
    /// password's hash; `nil` when there is none.
    public func signInRecord(forLogin login: String) async throws -> (user: FactoryUser, passwordHash: String)? {
        let rows = try await pool.query(
            """
            SELECT \(unescaped: FactoryUser.columns), password_hash FROM factory.users
            WHERE lower(username) = lower(\(login)) OR lower(email) = lower(\(login))
            ORDER BY lower(username) = lower(\(login)) DESC LIMIT 1
            """
        )
        guard let row = rows.first else { return nil }
        return (try FactoryUser(row: row), try row.makeRandomAccess()["password_hash"].decode(String.self))
    }

    /// Stamps the user's `last_login_at`.
    public func recordSignIn(of userID: String) async throws {
        try await pool.query("UPDATE factory.users SET last_login_at = now() WHERE user_id = \(userID)")
    }

    static func check(_ draft: Draft) throws {
        var errors: [StrataError.FieldError] = []
        if !FactoryScope.isPlantID(draft.userID) { errors.append(.init(field: "user_id", reason: PlantService.idRule)) }
        if !(1...100).contains(draft.username.textLength) { errors.append(.init(field: "username", reason: "must be 1 to 100 characters")) }
        if !(8...72).contains(draft.password.utf8.count) { errors.append(.init(field: "password", reason: "must be 8 to 72 bytes")) }
        if let email = draft.email, email.textLength > 254 || !email.contains("@") || email.hasPrefix("@") || email.hasSuffix("@") {
            errors.append(.init(field: "email", reason: "must be an e-mail address of at most 254 characters"))
        }
        if let phone = draft.phone, !(1...20).contains(phone.textLength) {
            errors.append(.init(field: "phone", reason: "must be 1 to 20 characters"))
        }
        for (field, ids) in [("factory_ids", draft.factoryIDs), ("line_ids", draft.lineIDs)] {
            if let ids, ids.count > 1000 || !ids.allSatisfy({ FactoryScope.isPlantID($0) }) {
                errors.append(.init(field: field, reason: "at most 1000 ids, each \(PlantService.idRule)"))
            }
        }
        if let permissions = draft.permissions,
            permissions.count > 50 || !permissions.allSatisfy({ ["factory.read", "factory.write", "factory.admin", "factory.*"].contains($0) })
        {
            errors.append(.init(field: "permissions", reason: "each one of factory.read, factory.write, factory.admin, factory.*"))
        }
        if !errors.isEmpty { throw StrataError.validation(errors) }
    }
}

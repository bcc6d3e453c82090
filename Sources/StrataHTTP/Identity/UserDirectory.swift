public import StrataCore

/// How an app brings its own users (factory users, helpdesk agents, customer accounts) to the
/// platform's login: it finds a user by login name and says who they are.
///
/// ```swift
/// struct AgentDirectory: UserDirectory {
///     let pool: PostgresPool
///     func credentials(forLogin login: String) async throws -> UserCredentials? {
///         // SELECT id, name, password_hash, role, active FROM helpdesk.agents WHERE email = $1
///     }
/// }
/// ```
public protocol UserDirectory: Sendable {
    /// The user with this login, or `nil` when there is none.
    func credentials(forLogin login: String) async throws -> UserCredentials?
    /// Called once the user signed in (password right, account active): where a directory
    /// stamps the user's last sign-in. The default does nothing.
    func signedIn(_ principal: Principal) async throws
}

extension UserDirectory {
    public func signedIn(_ principal: Principal) async throws {}
}

/// A user as the login needs them.
public struct UserCredentials: Sendable {
    /// The bcrypt hash of the password (`$2b$…`).
    public var passwordHash: String
    /// Who they are once signed in.
    public var principal: Principal
    /// Inactive users cannot sign in.
    public var active: Bool

    public init(passwordHash: String, principal: Principal, active: Bool = true) {
        self.passwordHash = passwordHash
        self.principal = principal
        self.active = active
    }
}

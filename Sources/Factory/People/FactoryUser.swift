public import Foundation
import PostgresNIO
public import StrataCore

/// A person of the plant who signs in (`factory.users`): a role, extra permissions, and the
/// factories and lines they may reach (`nil`: no limit by that dimension).
public struct FactoryUser: Sendable, Codable, Equatable {
    /// What a user does; it decides their base permissions.
    public enum Role: String, Sendable, Codable, CaseIterable {
        case admin, manager, engineer, `operator`, viewer

        /// The permissions the role grants.
        var permissions: Set<String> {
            switch self {
            case .admin: ["factory.admin", "factory.read", "factory.write"]
            case .manager, .engineer, .`operator`: ["factory.read", "factory.write"]
            case .viewer: ["factory.read"]
            }
        }
    }

    public var userID: String
    public var username: String
    public var email: String?
    public var phone: String?
    public var role: Role
    public var factoryIDs: [String]?
    public var lineIDs: [String]?
    public var permissions: [String]
    public var active: Bool
    public var version: Int64
    public var createdAt: Date
    public var updatedAt: Date
    public var lastLoginAt: Date?

    enum CodingKeys: String, CodingKey {
        case username, email, phone, role, permissions, active, version
        case userID = "user_id"
        case factoryIDs = "factory_ids"
        case lineIDs = "line_ids"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case lastLoginAt = "last_login_at"
    }

    static let columns = """
        user_id, username, email, phone, role, factory_ids, line_ids, permissions, active, version, created_at, updated_at, last_login_at
        """

    init(row: PostgresRow) throws {
        let columns = row.makeRandomAccess()
        userID = try columns["user_id"].decode(String.self)
        username = try columns["username"].decode(String.self)
        email = try columns["email"].decode(String?.self)
        phone = try columns["phone"].decode(String?.self)
        guard let role = Role(rawValue: try columns["role"].decode(String.self)) else {
            throw StrataError(.internalError, "A user row holds an unknown role.")
        }
        self.role = role
        factoryIDs = try columns["factory_ids"].decode([String]?.self)
        lineIDs = try columns["line_ids"].decode([String]?.self)
        permissions = try columns["permissions"].decode([String].self)
        active = try columns["active"].decode(Bool.self)
        version = try columns["version"].decode(Int64.self)
        createdAt = try columns["created_at"].decode(Date.self)
        updatedAt = try columns["updated_at"].decode(Date.self)
        lastLoginAt = try columns["last_login_at"].decode(Date?.self)
    }

    /// The start of a signed-in user's principal id (then the user id).
    static let principalPrefix = "factory-user:"

    /// Who the user is once signed in: the role's permissions and their own `factory.…` ones,
    /// limited to their factories and lines.
    public var principal: Principal {
        var scopes: [String: [String]] = [:]
        if let factoryIDs { scopes[FactoryScope.factories] = factoryIDs }
        if let lineIDs { scopes[FactoryScope.lines] = lineIDs }
        let own = permissions.filter { $0.hasPrefix("factory.") }
        return Principal(id: Self.principalPrefix + userID, name: username, kind: .user, permissions: role.permissions.union(own), scopes: scopes)
    }
}

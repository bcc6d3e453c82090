/// Who is making a request: an API key or a signed-in user, with permissions and scopes.
///
/// Permissions are strings: an app-qualified verb (`workorders.write`, `simjobs.read`), an app
/// wildcard (`workorders.*`) or `admin` (everything). A principal holds `app.verb` when it holds
/// it exactly, `app.*`, or `admin`; a permission for one app never reaches another.
///
/// Scopes limit which rows a principal reaches (`factory_ids`, `line_ids`): repositories filter
/// by them in SQL, so that an out-of-scope row looks exactly like a missing one.
public struct Principal: Sendable, Equatable {
    /// What kind of credential authenticated the request.
    public enum Kind: String, Sendable {
        case apiKey = "api_key"
        case user
    }

    /// The fields, kept in one shared object: a request context carries its principal through
    /// every middleware, and copying one reference is cheaper than copying four.
    private final class Storage: Sendable {
        let id: String
        let name: String
        let kind: Kind
        let permissions: Set<String>
        let scopes: [String: [String]]
        let actor: String

        init(id: String, name: String, kind: Kind, permissions: Set<String>, scopes: [String: [String]]) {
            self.id = id
            self.name = name
            self.kind = kind
            self.permissions = permissions
            self.scopes = scopes
            self.actor = "\(kind.rawValue):\(name)"
        }
    }

    private let storage: Storage

    public var id: String { storage.id }
    public var name: String { storage.name }
    public var kind: Kind { storage.kind }
    public var permissions: Set<String> { storage.permissions }
    /// Allowed values per scope name; a scope that is absent is not limited.
    public var scopes: [String: [String]] { storage.scopes }

    public init(id: String, name: String, kind: Kind, permissions: Set<String>, scopes: [String: [String]] = [:]) {
        self.storage = Storage(id: id, name: name, kind: kind, permissions: permissions, scopes: scopes)
    }

    /// The actor recorded in audit entries and events: `api_key:<name>` or `user:<name>`.
    public var actor: String { storage.actor }

    public static func == (lhs: Principal, rhs: Principal) -> Bool {
        lhs.storage === rhs.storage
            || (lhs.id == rhs.id && lhs.name == rhs.name && lhs.kind == rhs.kind && lhs.permissions == rhs.permissions
                && lhs.scopes == rhs.scopes)
    }

    /// Whether the principal holds `permission` (see the type's rules).
    public func has(_ permission: String) -> Bool {
        if permissions.contains("admin") || permissions.contains(permission) { return true }
        guard let dot = permission.lastIndex(of: ".") else { return false }
        return permissions.contains("\(permission[..<dot]).*")
    }

    /// Checks `permission`.
    /// - Throws: `forbidden` naming the permission.
    public func require(_ permission: String) throws {
        guard has(permission) else {
            throw StrataError(.forbidden, "This needs the '\(permission)' permission.", details: ["permission": permission])
        }
    }

    // MARK: Scopes

    /// The values the principal may reach for a scope (`line_ids` …), or `nil` when the scope does
    /// not limit it. Repositories bind this as an array and filter with
    /// `($1::text[] IS NULL OR line_id = ANY($1))`, so rows outside the scope are simply not found.
    public func scopeValues(_ scope: String) -> [String]? {
        if permissions.contains("admin") { return nil }
        return scopes[scope]
    }

    /// The scopes that limit the principal's rows: none for `admin`, else its own. What a
    /// scoped read binds, and what a request's ``Caller`` carries.
    public var rowScopes: [String: [String]] {
        permissions.contains("admin") ? [:] : scopes
    }

    /// Whether `value` is inside the principal's `scope`.
    public func allows(_ value: String, in scope: String) -> Bool {
        scopeValues(scope).map { $0.contains(value) } ?? true
    }

    /// Checks that a write lands inside the principal's scope (creating or moving data there).
    /// - Throws: `forbidden` naming the scope (the value is not echoed).
    public func requireScope(_ scope: String, contains value: String) throws {
        guard allows(value, in: scope) else {
            throw StrataError(.forbidden, "This is outside your '\(scope)' scope.", details: ["scope": scope])
        }
    }
}

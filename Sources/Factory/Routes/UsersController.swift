import Foundation
public import Hummingbird
import StrataCore
public import StrataHTTP

/// `/api/factory/users/…`: the plant's users, managed with `factory.admin`. They sign in at
/// `POST /api/factory/login`.
public struct UsersController: Sendable {
    let users: UserService

    public init(users: UserService) {
        self.users = users
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let group = router.group("/api/factory/users")
        group.post { request, context in
            let caller = try context.caller(requiring: "factory.admin")
            let draft = try await request.decodeJSON(as: UserService.Draft.self, context: context)
            return try Response.json(try await users.create(draft, by: caller), status: .created)
        }
        group.get { _, context in
            let principal = try context.requirePermission("factory.admin")
            return try Response.json(Page.complete(try await users.list(scopes: principal.rowScopes)))
        }
        group.get("{user_id}") { _, context in
            let principal = try context.requirePermission("factory.admin")
            return try Response.json(try await users.user(try context.parameters.require("user_id"), scopes: principal.rowScopes))
        }
    }
}

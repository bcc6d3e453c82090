import Foundation
public import Hummingbird
import StrataCore
import StrataPostgres

/// `/api/strata/keys` (permission `admin`): create (the key is in the response once), list and
/// revoke API keys — the same as `strata keys create | list | revoke`.
public struct KeysController: Sendable {
    let keys: APIKeyAuthenticator

    public init(keys: APIKeyAuthenticator) {
        self.keys = keys
    }

    struct CreateRequest: Decodable {
        var name: String
        var permissions: [String]
        var scopes: [String: [String]]?
        var rateLimitPerMinute: Int?
        var expiresInDays: Int?

        enum CodingKeys: String, CodingKey {
            case name, permissions, scopes
            case rateLimitPerMinute = "rate_limit_per_minute"
            case expiresInDays = "expires_in_days"
        }
    }

    struct Created: ResponseEncodable {
        var id: UUID
        var key: String
        var prefix: String
        var name: String
        var permissions: [String]
        var expiresAt: Date?

        enum CodingKeys: String, CodingKey {
            case id, key, prefix, name, permissions
            case expiresAt = "expires_at"
        }
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let group = router.group("/api/strata/keys")
        group.post { request, context -> EditedResponse<Created> in
            try context.requirePermission("admin")
            let body = try await request.decodeJSON(as: CreateRequest.self, context: context)
            if let days = body.expiresInDays, !(1...3650).contains(days) {
                throw StrataError(.invalidValue, "expires_in_days must be 1 to 3650.", details: ["field": "expires_in_days"])
            }
            let (key, secret) = try await keys.store.create(
                .init(
                    name: body.name,
                    permissions: body.permissions,
                    scopes: body.scopes ?? [:],
                    rateLimitPerMinute: body.rateLimitPerMinute ?? 100,
                    expiresAt: body.expiresInDays.map { Date().addingTimeInterval(Double($0) * 86_400) }
                )
            )
            return EditedResponse(
                status: .created,
                response: Created(id: key.id, key: secret, prefix: key.prefix, name: key.name, permissions: key.permissions, expiresAt: key.expiresAt)
            )
        }
        group.get { _, context -> Page<APIKey> in
            try context.requirePermission("admin")
            return Page.complete(try await keys.store.list())
        }
        group.delete("{id}") { _, context -> HTTPResponse.Status in
            try context.requirePermission("admin")
            let id = try context.parameters.require("id")
            guard let revoked = try await keys.store.revoke(id) else {
                throw StrataError(.notFound, "No API key has this id or prefix.")
            }
            keys.forget(prefix: revoked.prefix)
            return .noContent
        }
    }
}

import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataServer
import StrataTestSupport
import Testing

/// A module with a route that needs a permission.
struct GuardedModule: StrataModule {
    let name = "guarded"
    func migrationLine() throws -> MigrationLine { try MigrationLine(module: name, migrations: []) }

    func addRoutes(to router: any RouterMethods<StrataRequestContext>, environment: ModuleEnvironment) {
        router.get("/api/guarded/secret") { _, context -> String in
            let principal = try context.requirePermission("guarded.read")
            return principal.actor
        }
    }
}

@Suite struct AuthenticationTests {
    func withGuardedApplication(
        environment variables: [String: String] = [:],
        _ body: @escaping @Sendable (TestDatabase, any TestClientProtocol, ModuleEnvironment) async throws -> Void
    ) async throws {
        try await withTestApplication(
            modules: [GuardedModule()],
            variables: variables,
            environment: { database in
                ModuleEnvironment(pool: database.pool, keys: .init(cacheTTL: .seconds(60), negativeCacheTTL: .zero), logger: TestPostgres.logger)
            },
            body
        )
    }

    func code(_ response: TestResponse) -> String? {
        struct Problem: Decodable { var code: String }
        return try? JSONDecoder().decode(Problem.self, from: Data(String(buffer: response.body).utf8)).code
    }

    /// A key named `test-<verbs>` holding `guarded.<verb>` for each verb (`admin` as it is).
    func createKey(_ pool: PostgresPool, _ verbs: [String], rateLimit: Int = 100) async throws -> (APIKey, String) {
        try await APIKeyStore(pool: pool).create(
            .init(
                name: "test-\(verbs.joined(separator: "-"))",
                permissions: verbs.map { $0 == "admin" ? $0 : "guarded.\($0)" },
                rateLimitPerMinute: rateLimit
            )
        )
    }

    @Test(.timeLimit(.minutes(1)))
    func twoDifferentCredentialsAre401AndTheSameOneTwiceIsFine() async throws {
        try await withGuardedApplication { database, client, _ in
            let (_, reader) = try await createKey(database.pool, ["read"])
            let both: HTTPFields = [.authorization: "Bearer \(reader)", .xAPIKey: "sk_bad_credential"]
            try await client.execute(uri: "/api/guarded/secret", method: .get, headers: both) { response in
                #expect(response.status == .unauthorized && self.code(response) == "unauthenticated", "a bad key must not ride on a good token")
            }
            let reversed: HTTPFields = [.authorization: "Bearer sk_bad_credential", .xAPIKey: reader]
            try await client.execute(uri: "/api/guarded/secret", method: .get, headers: reversed) { #expect($0.status == .unauthorized) }
            let same: HTTPFields = [.authorization: "Bearer \(reader)", .xAPIKey: reader]
            try await client.execute(uri: "/api/guarded/secret", method: .get, headers: same) { #expect($0.status == .ok) }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func keysAuthenticatePermissionsAuthorizeAndBadKeysAre401() async throws {
        try await withGuardedApplication { database, client, environment in
            let (_, reader) = try await createKey(database.pool, ["read"])
            let (_, writer) = try await createKey(database.pool, ["write"])
            try await client.execute(uri: "/api/guarded/secret", method: .get) { response in
                #expect(response.status == .unauthorized && self.code(response) == "unauthenticated")
            }
            try await client.execute(uri: "/api/guarded/secret", method: .get, headers: [.authorization: "Bearer sk_nothing_here"]) { response in
                #expect(response.status == .unauthorized)
            }
            let forged = String(reader.dropLast()) + (reader.hasSuffix("A") ? "B" : "A")
            try await client.execute(uri: "/api/guarded/secret", method: .get, headers: [.xAPIKey: forged]) { response in
                #expect(response.status == .unauthorized, "the right prefix with a wrong secret")
            }
            try await client.execute(uri: "/api/guarded/secret", method: .get, headers: [.xAPIKey: writer]) { response in
                #expect(response.status == .forbidden && self.code(response) == "forbidden")
            }
            try await client.execute(uri: "/api/guarded/secret", method: .get, headers: [.authorization: "Bearer \(reader)"]) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "api_key:test-read")
                #expect(response.headers[.rateLimitRemaining] != nil)
            }
            // Use is recorded in batches, not per request.
            #expect(try await APIKeyStore(pool: database.pool).list().allSatisfy { $0.lastUsedAt == nil })
            await environment.keys.flushUsage()
            let used = try await APIKeyStore(pool: database.pool).list().filter { $0.lastUsedAt != nil }.map(\.name)
            #expect(Set(used) == ["test-read", "test-write"], "both authenticated (the writer was then refused)")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func expiredAndRevokedKeysAreRefused() async throws {
        try await withGuardedApplication { database, client, _ in
            let (adminKey, admin) = try await createKey(database.pool, ["admin"])
            _ = adminKey
            let (expiring, expiringText) = try await createKey(database.pool, ["read"])
            try await database.pool.query("UPDATE strata.api_keys SET expires_at = now() - interval '1 second' WHERE id = \(expiring.id)")
            try await client.execute(uri: "/api/guarded/secret", method: .get, headers: [.xAPIKey: expiringText]) { response in
                #expect(response.status == .unauthorized)
            }
            // Created through the admin endpoint, used, revoked through it: refused at once.
            var created: String?
            try await client.execute(
                uri: "/api/strata/keys",
                method: .post,
                headers: [.xAPIKey: admin, .contentType: "application/json"],
                body: ByteBuffer(string: #"{"name":"robot","permissions":["guarded.read"],"expires_in_days":30}"#)
            ) { response in
                #expect(response.status == .created)
                struct Created: Decodable {
                    var key: String
                    var prefix: String
                }
                let body = try JSONDecoder().decode(Created.self, from: Data(String(buffer: response.body).utf8))
                created = body.key
                #expect(body.key.hasPrefix("sk_\(body.prefix)_"))
            }
            let robot = try #require(created)
            try await client.execute(uri: "/api/guarded/secret", method: .get, headers: [.xAPIKey: robot]) { response in
                #expect(response.status == .ok)
            }
            let prefix = try #require(APIKey.prefix(of: robot))
            try await client.execute(uri: "/api/strata/keys/\(prefix)", method: .delete, headers: [.xAPIKey: admin]) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/api/guarded/secret", method: .get, headers: [.xAPIKey: robot]) { response in
                #expect(response.status == .unauthorized)
            }
            // Only admins manage keys; listings never carry secrets.
            try await client.execute(uri: "/api/strata/keys", method: .get, headers: [.xAPIKey: expiringText]) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/api/strata/keys", method: .get, headers: [.xAPIKey: admin]) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                #expect(text.contains("robot") && !text.contains(robot) && !text.contains("key_hash"))
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func overBudgetRequestsGet429WithRetryAfter() async throws {
        try await withGuardedApplication(environment: ["RATE_LIMIT_ANONYMOUS": "2"]) { database, client, _ in
            let (_, limited) = try await createKey(database.pool, ["read"], rateLimit: 3)
            var statuses: [UInt16] = []
            for _ in 0..<5 {
                try await client.execute(uri: "/api/guarded/secret", method: .get, headers: [.xAPIKey: limited]) { response in
                    statuses.append(UInt16(response.status.code))
                    if response.status == .tooManyRequests {
                        #expect(self.code(response) == "rate_limited")
                        #expect(Int(response.headers[.retryAfter] ?? "") ?? 0 >= 1)
                    }
                }
            }
            #expect(statuses == [200, 200, 200, 429, 429])
            // Anonymous requests have a budget per client address.
            var anonymous: [UInt16] = []
            for _ in 0..<3 {
                try await client.execute(uri: "/api/guarded/secret", method: .get) { anonymous.append(UInt16($0.status.code)) }
            }
            #expect(anonymous == [401, 401, 429])
        }
    }
}

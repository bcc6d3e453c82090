import Foundation
import Hummingbird
import HummingbirdBcrypt
import HummingbirdTesting
import StrataCore
import StrataPostgres
import StrataServer
import StrataTestSupport
import Testing

@testable import StrataHTTP

/// An app with users in memory, signing in through the platform's login.
struct PeopleModule: StrataModule {
    let name = "people"
    func migrationLine() throws -> MigrationLine { try MigrationLine(module: name, migrations: []) }

    struct Directory: UserDirectory {
        static let annHash = Bcrypt.hash("correct horse battery staple", cost: 4)
        func credentials(forLogin login: String) async throws -> UserCredentials? {
            switch login {
            case "ann":
                UserCredentials(
                    passwordHash: Self.annHash,
                    principal: Principal(id: "u-1", name: "ann", kind: .user, permissions: ["guarded.read"], scopes: ["line_ids": ["L1"]])
                )
            case "bob":
                UserCredentials(passwordHash: Self.annHash, principal: Principal(id: "u-2", name: "bob", kind: .user, permissions: []), active: false)
            default: nil
            }
        }
    }

    func addRoutes(to router: any RouterMethods<StrataRequestContext>, environment: ModuleEnvironment) {
        guard let tokens = environment.tokens else { return }
        LoginController(
            app: name,
            directory: Directory(),
            issuer: tokens,
            revocations: environment.revocations,
            limiter: environment.limiter,
            attemptsPerAccount: 4
        ).addRoutes(to: router)
    }
}

@Suite struct TokenIssuerTests {
    let issuer = try! TokenIssuer(secret: Array("0123456789abcdef0123456789abcdef".utf8), lifetime: .seconds(600))
    let ann = Principal(id: "u-1", name: "ann", kind: .user, permissions: ["people.read"], scopes: ["factory_ids": ["F1"]])

    @Test func aTokenCarriesItsPrincipalAndOnlyOurSignatureIsAccepted() throws {
        let (token, claims) = issuer.issue(for: ann, app: "people")
        let verified = try issuer.verify(token)
        #expect(verified == claims && verified.principal == ann && verified.app == "people")

        let parts = token.split(separator: ".").map(String.init)
        // Another key, a changed payload, "alg": "none", garbage: all refused.
        let other = try TokenIssuer(secret: Array("ffffffffffffffffffffffffffffffff".utf8))
        #expect(throws: StrataError.self) { try other.verify(token) }
        let forgedPayload = Base64URL.encode(
            Array(#"{"sub":"u-1","name":"ann","app":"people","perms":["admin"],"scopes":{},"iat":0,"exp":9999999999,"jti":"x","iss":"strata"}"#.utf8)
        )
        #expect(throws: StrataError.self) { try issuer.verify(parts[0] + "." + forgedPayload + "." + parts[2]) }
        let none = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8))
        #expect(throws: StrataError.self) { try issuer.verify(none + "." + parts[1] + ".") }
        #expect(throws: StrataError.self) { try issuer.verify("not.a.token") }
        #expect(throws: StrataError.self) { try TokenIssuer(secret: Array("short".utf8)) }
    }

    @Test func expiredTokensAreRefused() throws {
        let (token, _) = issuer.issue(for: ann, app: "people", now: Date().addingTimeInterval(-3600))
        #expect(throws: StrataError.self) { try issuer.verify(token) }
    }
}

@Suite struct TokenLoginTests {
    func withPeople(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let environment: @Sendable (TestDatabase) throws -> ModuleEnvironment = { database in
            ModuleEnvironment(
                pool: database.pool,
                tokens: try TokenIssuer(secret: Array("0123456789abcdef0123456789abcdef".utf8)),
                logger: TestPostgres.logger
            )
        }
        try await withTestApplication(modules: [GuardedModule(), PeopleModule()], environment: environment) { _, client, _ in
            try await body(client)
        }
    }

    func login(_ client: any TestClientProtocol, _ login: String, _ password: String) async throws -> (HTTPResponse.Status, String?) {
        try await client.execute(
            uri: "/api/people/login",
            method: .post,
            headers: [.contentType: "application/json"],
            body: ByteBuffer(string: #"{"login":"\#(login)","password":"\#(password)"}"#)
        ) { response in
            struct Token: Decodable { var token: String }
            return (response.status, try? JSONDecoder().decode(Token.self, from: Data(String(buffer: response.body).utf8)).token)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func usersSignInUseTheirTokenAndSignOut() async throws {
        try await withPeople { client in
            let (status, token) = try await login(client, "ann", "correct horse battery staple")
            #expect(status == .ok)
            let bearer = "Bearer " + (try #require(token))
            try await client.execute(uri: "/api/guarded/secret", method: .get, headers: [.authorization: bearer]) { response in
                #expect(response.status == .ok && String(buffer: response.body) == "user:ann", "\(String(buffer: response.body))")
            }
            #expect(try await login(client, "ann", "wrong").0 == .unauthorized)
            #expect(try await login(client, "nobody", "whatever").0 == .unauthorized)
            #expect(try await login(client, "bob", "correct horse battery staple").0 == .unauthorized, "inactive users cannot sign in")
            try await client.execute(uri: "/api/people/logout", method: .post, headers: [.authorization: bearer]) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/api/guarded/secret", method: .get, headers: [.authorization: bearer]) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func signInAttemptsAreLimitedPerAccount() async throws {
        try await withPeople { client in
            var statuses: [UInt] = []
            for _ in 0..<6 { statuses.append(UInt(try await login(client, "ann", "guess").0.code)) }
            #expect(statuses == [401, 401, 401, 401, 429, 429])
        }
    }
}

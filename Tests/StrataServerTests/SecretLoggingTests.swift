import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataServer
import StrataTestSupport
import Synchronization
import Testing

/// Keeps every log line (message and metadata) in memory.
final class CapturedLogs: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }

    func logger(label: String) -> Logger {
        var logger = Logger(label: label) { _ in
            EventLogHandler { [self] event, metadata in self.lines.withLock { $0.append("\(event.level) \(event.message) \(metadata)") } }
        }
        logger.logLevel = .trace
        return logger
    }
}

@Suite struct SecretLoggingTests {
    @Test(.timeLimit(.minutes(1)))
    func keysPasswordsAndTokensNeverReachTheLogs() async throws {
        let logs = CapturedLogs()
        let logger = logs.logger(label: "strata.capture")
        let environment: @Sendable (TestDatabase) throws -> ModuleEnvironment = { database in
            ModuleEnvironment(pool: database.pool, tokens: try TokenIssuer(secret: Array("0123456789abcdef0123456789abcdef".utf8)), logger: logger)
        }
        let issued = try await withTestApplication(
            modules: [GuardedModule(), PeopleModule(), ProbeModule()],
            variables: ["LOG_LEVEL": "trace"],
            environment: environment,
            logger: logger
        ) { database, client, _ -> [String] in
            let (_, admin) = try await APIKeyStore(pool: database.pool).create(.init(name: "admin", permissions: ["admin"]))
            let robot = try await client.execute(
                uri: "/api/strata/keys",
                method: .post,
                headers: [.xAPIKey: admin, .contentType: "application/json"],
                body: ByteBuffer(string: #"{"name":"robot","permissions":["simjobs.read"]}"#)
            ) { response in
                struct Created: Decodable { var key: String }
                return try JSONDecoder().decode(Created.self, from: Data(String(buffer: response.body).utf8)).key
            }
            let token = try await client.execute(
                uri: "/api/people/login",
                method: .post,
                headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"login":"ann","password":"correct horse battery staple"}"#)
            ) { response in
                struct Token: Decodable { var token: String }
                return try JSONDecoder().decode(Token.self, from: Data(String(buffer: response.body).utf8)).token
            }
            try await client.execute(uri: "/api/guarded/secret", method: .get, headers: [.authorization: "Bearer \(token)"]) { _ in }
            try await client.execute(uri: "/api/guarded/secret", method: .get, headers: [.xAPIKey: robot]) { _ in }
            try await client.execute(
                uri: "/api/guarded/secret",
                method: .get,
                headers: [.xAPIKey: "sk_AAAAAAAA_" + String(repeating: "B", count: 32)]
            ) { _ in }
            try await client.execute(
                uri: "/api/probe/items",
                method: .post,
                headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"name":"x","quantity":"y","password":"hunter2"}"#)
            ) { _ in }
            try await client.execute(uri: "/api/probe/crash", method: .get) { _ in }  // an error that holds a password
            return [admin, robot, token]
        }
        let lines = logs.all
        #expect(lines.count > 5, "the test saw the logs")
        #expect(issued.count == 3)
        for secret in ["correct horse battery staple", "hunter2"] + issued {
            #expect(!lines.contains { $0.contains(secret) }, "a log line contains a secret")
        }
        #expect(!lines.contains { $0.contains("sk_") && $0.contains("_BBBB") })
        #expect(!lines.contains { $0.contains("eyJ") }, "no token (base64 JSON) in the logs")
    }
}

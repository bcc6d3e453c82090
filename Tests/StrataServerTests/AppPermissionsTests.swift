import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataServer
import StrataTestSupport
import Synchronization
import Testing

/// Permissions name their app: a key for one app reaches no other, and keys made when simjobs
/// asked for bare verbs keep their access there, and only there.
@Suite struct AppPermissionsTests {
    /// Secrets made while the database is prepared, read by the test body.
    final class Secrets: Sendable {
        let values = Mutex<[String: String]>([:])
        subscript(name: String) -> String { values.withLock { $0[name] ?? "" } }
        func set(_ name: String, _ secret: String) { values.withLock { $0[name] = secret } }
    }

    /// The status of one request with `key`: 401/403 when refused, anything else once the
    /// permission check let it through (an empty body is then refused as invalid).
    func status(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, key: String) async throws -> HTTPResponse.Status {
        let body = method == .post ? ByteBuffer(string: "{}") : nil
        return try await client.execute(uri: uri, method: method, headers: [.xAPIKey: key, .contentType: "application/json"], body: body) {
            $0.status
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aKeyForOneAppCannotWriteToAnotherAndBareVerbKeysStayWithSimJobs() async throws {
        let secrets = Secrets()
        // A key from before app-qualified permissions, made on the schema of that time; then
        // the rest of the migrations and one key per kind.
        let prepare: @Sendable (TestDatabase) async throws -> Void = { database in
            let lines = try StrataApplication.migrationLines()
            let before = try lines.map { line in
                line.module == "simjobs" ? try MigrationLine(module: "simjobs", migrations: line.migrations.filter { $0.version < 7 }) : line
            }
            try await Migrator(lines: before, pool: database.pool, logger: TestPostgres.logger).migrate()
            let store = APIKeyStore(pool: database.pool)
            let (old, oldSecret) = try await store.create(.init(name: "old-writer", permissions: ["simjobs.read"]))
            try await database.pool.query(
                "UPDATE strata.api_keys SET permissions = '{read,write,simjobs.admin}' WHERE id = \(old.id)"
            )
            secrets.set("old", oldSecret)
            try await Migrator(lines: lines, pool: database.pool, logger: TestPostgres.logger).migrate()
            for (name, permissions) in [
                ("simjobs", ["simjobs.write", "simjobs.read"]), ("workorders", ["workorders.*"]), ("admin", ["admin"]),
            ] {
                secrets.set(name, try await store.create(.init(name: name, permissions: permissions)).secret)
            }
            let migrated = try await database.pool.query("SELECT permissions FROM strata.api_keys WHERE id = \(old.id)")
                .first?.decode([String].self)
            #expect(migrated == ["simjobs.read", "simjobs.write", "simjobs.admin"])
        }
        try await withTestApplication(migrated: false, prepare: prepare) { database, client, _ in
            let simjobsWrite = "/api/simjobs/tasks/batch"
            let simjobsRead = "/api/simjobs/tasks"
            let workordersWrite = "/api/workorders/orders"
            let workordersRead = "/api/workorders/orders"
            let expected: [(key: String, method: HTTPRequest.Method, uri: String, refused: Bool)] = [
                ("simjobs", .post, simjobsWrite, false),
                ("simjobs", .get, simjobsRead, false),
                ("simjobs", .post, workordersWrite, true),
                ("simjobs", .get, workordersRead, true),
                ("workorders", .post, workordersWrite, false),
                ("workorders", .post, simjobsWrite, true),
                ("workorders", .get, simjobsRead, true),
                ("old", .post, simjobsWrite, false),
                ("old", .get, simjobsRead, false),
                ("old", .post, workordersWrite, true),
                ("old", .get, workordersRead, true),
                ("admin", .post, workordersWrite, false),
                ("admin", .post, simjobsWrite, false),
            ]
            for (key, method, uri, refused) in expected {
                let status = try await status(client, method, uri, key: secrets[key])
                #expect((status == .forbidden) == refused, "\(key) \(method) \(uri): \(status)")
                #expect(status != .unauthorized)
            }
            // A new key must name its app.
            await #expect(throws: StrataError.self) {
                try await APIKeyStore(pool: database.pool).create(.init(name: "bare", permissions: ["write"]))
            }
        }
    }
}

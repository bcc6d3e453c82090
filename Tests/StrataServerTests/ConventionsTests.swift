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

/// Holds a request inside its handler until the test lets it go, so a test can act while the
/// request is known to be running rather than guessing how long it takes.
actor HandlerGate {
    private var entered = false
    private var opened = false
    private var enteredWaiters: [CheckedContinuation<Void, Never>] = []
    private var openWaiters: [CheckedContinuation<Void, Never>] = []

    /// Called by the handler: reports it has entered, then waits until the gate opens.
    func enterAndWait() async {
        entered = true
        for waiter in enteredWaiters { waiter.resume() }
        enteredWaiters = []
        if opened { return }
        await withCheckedContinuation { openWaiters.append($0) }
    }

    /// Returns once a handler has entered.
    func waitUntilEntered() async {
        if entered { return }
        await withCheckedContinuation { enteredWaiters.append($0) }
    }

    /// Lets every waiting and later handler go on.
    func open() {
        opened = true
        for waiter in openWaiters { waiter.resume() }
        openWaiters = []
    }
}

/// A module whose routes use the request conventions the way apps do.
struct ConventionsModule: StrataModule {
    let name = "conv"
    /// Holds requests for an item named "slow" inside the handler.
    static let slowRequests = HandlerGate()
    func migrationLine() throws -> MigrationLine { try MigrationLine(module: name, migrations: []) }

    struct Item: Codable, ResponseEncodable, Equatable {
        var id: Int64
        var name: String
        var version: Int64
    }

    struct Input: Decodable {
        var name: String
    }

    func addRoutes(to router: any RouterMethods<StrataRequestContext>, environment: ModuleEnvironment) {
        let pool = environment.pool
        @Sendable func decodeItem(_ row: PostgresRow) throws -> Item {
            let (id, name, version) = try row.decode((Int64, String, Int64).self)
            return Item(id: id, name: name, version: version)
        }
        router.post("/api/conv/items") { request, context -> Response in
            let input = try await request.decodeJSON(as: Input.self, context: context)
            if input.name.isEmpty { throw StrataError.validation([.init(field: "name", reason: "must not be empty")]) }
            if input.name == "slow" { await Self.slowRequests.enterAndWait() }
            let item = try decodeItem(
                try #require(try await pool.query("INSERT INTO strata.conv_items (name) VALUES (\(input.name)) RETURNING id, name, version").first)
            )
            var response = try Response.json(item, status: .created)
            response.headers[.location] = "/api/conv/items/\(item.id)"
            response.headers[.eTag] = ETag.value(version: item.version)
            return response
        }
        router.get("/api/conv/items/{id}") { _, context -> Response in
            let id = try context.parameters.require("id", as: Int64.self)
            guard let row = try await pool.query("SELECT id, name, version FROM strata.conv_items WHERE id = \(id)").first else {
                throw StrataError(.notFound, "No such item.")
            }
            let item = try decodeItem(row)
            var response = try Response.json(item)
            response.headers[.eTag] = ETag.value(version: item.version)
            return response
        }
        router.patch("/api/conv/items/{id}") { request, context -> Response in
            let id = try context.parameters.require("id", as: Int64.self)
            let expected = try ETag.requiredVersion(request)
            let input = try await request.decodeJSON(as: Input.self, context: context)
            let rows = try await pool.query(
                """
                UPDATE strata.conv_items SET name = \(input.name), version = version + 1
                WHERE id = \(id) AND version = \(expected) RETURNING id, name, version
                """
            )
            guard let row = rows.first else {
                let exists = try await pool.query("SELECT 1 FROM strata.conv_items WHERE id = \(id)").first != nil
                throw exists ? StrataError.staleVersion() : StrataError(.notFound, "No such item.")
            }
            let item = try decodeItem(row)
            var response = try Response.json(item)
            response.headers[.eTag] = ETag.value(version: item.version)
            return response
        }
        // Scoped rows: a principal limited to some lines sees only theirs.
        router.get("/api/conv/lines/{line}/notes/{id}") { _, context -> String in
            let principal = try context.requirePermission("conv.read")
            let id = try context.parameters.require("id", as: Int64.self)
            let rows = try await pool.query(
                """
                SELECT body FROM strata.conv_notes
                WHERE id = \(id) AND (\(principal.scopeValues("line_ids"))::text[] IS NULL OR line_id = ANY(\(principal.scopeValues("line_ids"))::text[]))
                """
            )
            guard let row = rows.first else { throw StrataError(.notFound, "No such note.") }
            return try row.decode(String.self)
        }
        router.post("/api/conv/lines/{line}/notes") { request, context -> HTTPResponse.Status in
            let principal = try context.requirePermission("conv.write")
            let line = try context.parameters.require("line")
            try principal.requireScope("line_ids", contains: line)
            let body = try await request.decodeJSON(as: Input.self, context: context)
            try await pool.query("INSERT INTO strata.conv_notes (line_id, body) VALUES (\(line), \(body.name))")
            return .created
        }
        router.get("/api/conv/items") { request, _ -> Page<Item> in
            let page = try PageRequest(from: request)
            let after =
                try page.cursor.map { cursor -> Int64 in
                    guard let id = Int64(try cursor.string(at: 0)) else {
                        throw StrataError.validation([.init(field: "cursor", reason: "is not a cursor this API returned")])
                    }
                    return id
                } ?? 0
            let rows = try await pool.query(
                "SELECT id, name, version FROM strata.conv_items WHERE id > \(after) ORDER BY id LIMIT \(page.limit + 1)"
            )
            var items = try rows.map(decodeItem)
            let more = items.count > page.limit
            if more { items.removeLast() }
            return Page(items: items, nextCursor: more ? items.last.map { Cursor(values: ["\($0.id)"]).encoded } : nil)
        }
    }
}

@Suite struct ConventionsTests {
    func withConventions(_ body: @escaping @Sendable (TestDatabase, any TestClientProtocol) async throws -> Void) async throws {
        let createTables: @Sendable (TestDatabase) async throws -> Void = { database in
            try await database.pool.query(
                "CREATE TABLE strata.conv_items (id bigserial PRIMARY KEY, name text NOT NULL, version bigint NOT NULL DEFAULT 1)"
            )
            try await database.pool.query("CREATE TABLE strata.conv_notes (id bigserial PRIMARY KEY, line_id text NOT NULL, body text NOT NULL)")
        }
        try await withTestApplication(modules: [ConventionsModule()], prepare: createTables) { database, client, _ in
            try await body(database, client)
        }
    }

    func json(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    func count(_ pool: PostgresPool) async throws -> Int64 {
        try await pool.query("SELECT count(*) FROM strata.conv_items").first?.decode(Int64.self) ?? -1
    }

    @Test(.timeLimit(.minutes(1)))
    func aRepeatedIdempotencyKeyReplaysTheFirstResponseByteForByte() async throws {
        try await withConventions { database, client in
            let headers: HTTPFields = [.contentType: "application/json", .idempotencyKey: "order-42"]
            var first: (String, String?)?
            try await client.execute(uri: "/api/conv/items", method: .post, headers: headers, body: json(#"{"name":"bolt"}"#)) { response in
                #expect(response.status == .created)
                first = (String(buffer: response.body), response.headers[.location])
            }
            try await client.execute(uri: "/api/conv/items", method: .post, headers: headers, body: json(#"{"name":"bolt"}"#)) { response in
                #expect(response.status == .created)
                #expect(String(buffer: response.body) == first?.0)
                #expect(response.headers[.location] == first?.1)
                #expect(response.headers[.idempotentReplayed] == "true")
            }
            #expect(try await count(database.pool) == 1, "the retry created nothing")
            try await client.execute(uri: "/api/conv/items", method: .post, headers: headers, body: json(#"{"name":"nut"}"#)) { response in
                #expect(response.status == .unprocessableContent)
                #expect(String(buffer: response.body).contains("idempotency_key_reused"))
            }
            // The query is part of the request: the same body under another query is another request.
            try await client.execute(uri: "/api/conv/items?kind=other", method: .post, headers: headers, body: json(#"{"name":"bolt"}"#)) {
                response in
                #expect(response.status == .unprocessableContent)
                #expect(String(buffer: response.body).contains("idempotency_key_reused"))
            }
            // A failed request releases its key: a retry runs again (a reservation left behind would
            // answer 409), and a corrected retry with the same key creates.
            let other: HTTPFields = [.contentType: "application/json", .idempotencyKey: "order-43"]
            try await client.execute(uri: "/api/conv/items", method: .post, headers: other, body: json(#"{"name":""}"#)) { response in
                #expect(response.status == .unprocessableContent)
            }
            try await client.execute(uri: "/api/conv/items", method: .post, headers: other, body: json(#"{"name":""}"#)) { response in
                #expect(response.headers[.idempotentReplayed] == nil)
                #expect(response.status == .unprocessableContent)
            }
            try await client.execute(uri: "/api/conv/items", method: .post, headers: other, body: json(#"{"name":"washer"}"#)) { response in
                #expect(response.status == .created)
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func queryTextLimitsCountCodePointsAsTheDocumentDoes() async throws {
        try await withConventions { database, client in
            let (_, key) = try await APIKeyStore(pool: database.pool).create(.init(name: "reader", permissions: ["simjobs.read"]))
            // 40 letters with two combining marks each: 40 characters to Swift, 120 code points
            // to JSON Schema's maxLength (100 for this parameter).
            let marked = String(repeating: "o\u{301}\u{302}", count: 40).addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            try await client.execute(uri: "/api/simjobs/tasks?model=\(marked)", method: .get, headers: [.xAPIKey: key]) { response in
                #expect(response.status == .unprocessableContent)
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aRetryWhileTheFirstRequestRunsIs409() async throws {
        try await withConventions { database, client in
            let headers: HTTPFields = [.contentType: "application/json", .idempotencyKey: "slow-1"]
            let gate = ConventionsModule.slowRequests
            async let first = client.execute(uri: "/api/conv/items", method: .post, headers: headers, body: self.json(#"{"name":"slow"}"#)) {
                Int($0.status.code)
            }
            // The retry arrives while the first request is inside its handler.
            await gate.waitUntilEntered()
            let retry = try await client.execute(uri: "/api/conv/items", method: .post, headers: headers, body: self.json(#"{"name":"slow"}"#)) {
                Int($0.status.code)
            }
            await gate.open()
            #expect(try await [first, retry] == [201, 409])
            #expect(try await count(database.pool) == 1)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func tenConcurrentWritersLoseNoUpdateThroughIfMatch() async throws {
        try await withConventions { database, client in
            try await client.execute(uri: "/api/conv/items", method: .post, headers: [.contentType: "application/json"], body: json(#"{"name":"0"}"#))
            { _ in }
            // Without If-Match: 428. With a stale one: 412.
            try await client.execute(
                uri: "/api/conv/items/1",
                method: .patch,
                headers: [.contentType: "application/json"],
                body: json(#"{"name":"x"}"#)
            ) {
                #expect($0.status == .preconditionRequired)
            }
            try await client.execute(
                uri: "/api/conv/items/1",
                method: .patch,
                headers: [.contentType: "application/json", .ifMatch: "\"99\""],
                body: json(#"{"name":"x"}"#)
            ) { #expect($0.status == .preconditionFailed) }
            // Ten writers each increment the name as a number: read, write with If-Match, retry on 412.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        while true {
                            let (etag, value) = try await client.execute(uri: "/api/conv/items/1", method: .get) { response in
                                let item = try JSONDecoder().decode(ConventionsModule.Item.self, from: Data(String(buffer: response.body).utf8))
                                return (response.headers[.eTag] ?? "", Int(item.name) ?? -1)
                            }
                            let status = try await client.execute(
                                uri: "/api/conv/items/1",
                                method: .patch,
                                headers: [.contentType: "application/json", .ifMatch: etag],
                                body: self.json(#"{"name":"\#(value + 1)"}"#)
                            ) { $0.status }
                            if status == .ok { return }
                            #expect(status == .preconditionFailed)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let row = try #require(try await database.pool.query("SELECT name, version FROM strata.conv_items WHERE id = 1").first)
            let (name, version) = try row.decode((String, Int64).self)
            #expect(name == "10" && version == 11, "every increment kept")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func cursorPagesVisitEveryRowOnceAndBadParametersAreListed() async throws {
        try await withConventions { database, client in
            for n in 0..<7 {
                try await client.execute(
                    uri: "/api/conv/items",
                    method: .post,
                    headers: [.contentType: "application/json"],
                    body: json(#"{"name":"i\#(n)"}"#)
                ) { _ in }
            }
            struct Listing: Decodable {
                var items: [ConventionsModule.Item]
                var next_cursor: String?
            }
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let uri = "/api/conv/items?limit=3" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await client.execute(uri: uri, method: .get) { response in
                    try JSONDecoder().decode(Listing.self, from: Data(String(buffer: response.body).utf8))
                }
                seen += page.items.map(\.name)
                cursor = page.next_cursor
                pages += 1
            } while cursor != nil
            #expect(pages == 3 && seen == (0..<7).map { "i\($0)" })
            try await client.execute(uri: "/api/conv/items?limit=0&cursor=bm90LW91cnM", method: .get) { response in
                #expect(response.status == .unprocessableContent)
                struct Problem: Decodable {
                    var code: String
                    var errors: [StrataError.FieldError]
                }
                let problem = try JSONDecoder().decode(Problem.self, from: Data(String(buffer: response.body).utf8))
                #expect(problem.code == "validation_failed")
                #expect(problem.errors.map(\.field) == ["limit", "cursor"])
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func rowsOutsideAPrincipalsScopeAreMissingAndWritesThereForbidden() async throws {
        try await withConventions { database, client in
            try await database.pool.query("INSERT INTO strata.conv_notes (line_id, body) VALUES ('L1', 'one'), ('L2', 'two')")
            let store = APIKeyStore(pool: database.pool)
            let (_, lineOne) = try await store.create(
                .init(name: "line-one", permissions: ["conv.read", "conv.write"], scopes: ["line_ids": ["L1"]])
            )
            let (_, everywhere) = try await store.create(.init(name: "all-lines", permissions: ["conv.read"]))
            try await client.execute(uri: "/api/conv/lines/L1/notes/1", method: .get, headers: [.xAPIKey: lineOne]) { response in
                #expect(response.status == .ok && String(buffer: response.body) == "one")
            }
            try await client.execute(uri: "/api/conv/lines/L2/notes/2", method: .get, headers: [.xAPIKey: lineOne]) { response in
                #expect(response.status == .notFound, "out of scope looks missing")
            }
            try await client.execute(uri: "/api/conv/lines/L2/notes/99", method: .get, headers: [.xAPIKey: lineOne]) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/api/conv/lines/L2/notes/2", method: .get, headers: [.xAPIKey: everywhere]) { response in
                #expect(response.status == .ok)
            }
            let note = ByteBuffer(string: #"{"name":"hello"}"#)
            try await client.execute(
                uri: "/api/conv/lines/L2/notes",
                method: .post,
                headers: [.xAPIKey: lineOne, .contentType: "application/json"],
                body: note
            ) { response in
                #expect(response.status == .forbidden)
            }
            try await client.execute(
                uri: "/api/conv/lines/L1/notes",
                method: .post,
                headers: [.xAPIKey: lineOne, .contentType: "application/json"],
                body: note
            ) { response in
                #expect(response.status == .created)
            }
        }
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataTestSupport
import Testing

@testable import WorkOrders

@Suite struct WorkOrdersRoutesTests {
    typealias Object = [String: JSONValue]

    /// The response's JSON object (empty when the body is not one: expectations on it then fail).
    static func json(_ response: TestResponse) -> Object {
        (try? JSONDecoder().decode(Object.self, from: Data(response.body.readableBytesView))) ?? [:]
    }

    static func body(_ value: Object) -> ByteBuffer {
        ByteBuffer(bytes: Array(JSONValue.object(value).text.utf8))
    }

    /// The app over HTTP against PostgreSQL (or the memory store), with a writer key.
    func withApp(
        store: WorkOrdersModule.Store = .postgres,
        _ body: @escaping @Sendable (any TestClientProtocol, HTTPFields, TestDatabase) async throws -> Void
    ) async throws {
        let module = WorkOrdersModule(configuration: .init(store: store, uploadMaxSize: 65536))
        try await withTestModule(module) { database, client, _ in
            let writer = try await APIKeyStore(pool: database.pool).create(.init(name: "writer", permissions: ["workorders.*"])).secret
            try await body(client, [.xAPIKey: writer, .contentType: "application/json"], database)
        }
    }

    static let draft: Object = [
        "title": .string("Welding"),
        "owner_id": .string("manager-001"),
        "owner_name": .string("Wang Qiang"),
        "watchers": .array([.string("Li Na")]),
        "steps": .array([.object(["step_code": .string("step-1"), "step_name": .string("Weld"), "expected_quantity": .number(10)])]),
    ]

    @Test(.timeLimit(.minutes(1)), arguments: [WorkOrdersModule.Store.postgres, .memory])
    func messagesArePagedByCursorLikeEveryList(store: WorkOrdersModule.Store) async throws {
        try await withApp(store: store) { client, auth, _ in
            let path = "/api/workorders/orders"
            let id = try await client.execute(uri: path, method: .post, headers: auth, body: Self.body(Self.draft)) {
                try #require(Self.json($0)["id"]?.stringValue)
            }
            for text in ["one", "two", "three"] {
                try await client.execute(uri: "\(path)/\(id)/messages", method: .post, headers: auth, body: Self.body(["body": .string(text)])) {
                    #expect($0.status == .created)
                }
            }
            let first = try await client.execute(uri: "\(path)/\(id)/messages?limit=2", method: .get, headers: auth) { Self.json($0) }
            #expect(first["items"]?.arrayValue?.compactMap { $0["body"]?.stringValue } == ["one", "two"])
            let cursor = try #require(first["next_cursor"]?.stringValue, "a full page has a next cursor")
            let second = try await client.execute(uri: "\(path)/\(id)/messages?limit=2&cursor=\(cursor)", method: .get, headers: auth) {
                Self.json($0)
            }
            #expect(second["items"]?.arrayValue?.compactMap { $0["body"]?.stringValue } == ["three"])
            #expect(second["next_cursor"] == .null, "the end, for now")
            try await client.execute(uri: "\(path)/\(id)/messages?cursor=nonsense", method: .get, headers: auth) {
                #expect($0.status == .unprocessableContent)
            }
            try await client.execute(uri: "/api/workorders/quick-replies/manager-001", method: .get, headers: auth) { response in
                #expect(Self.json(response)["next_cursor"] == .null, "a list returned whole has the same shape")
            }
        }
    }

    @Test(.timeLimit(.minutes(1)), arguments: [WorkOrdersModule.Store.postgres, .memory])
    func anOrderLivesThroughTheAPIWithETagsAndProgress(store: WorkOrdersModule.Store) async throws {
        try await withApp(store: store) { client, auth, _ in
            let path = "/api/workorders/orders"
            let (id, etag) = try await client.execute(uri: path, method: .post, headers: auth, body: Self.body(Self.draft)) { response in
                #expect(response.status == .created)
                #expect(response.headers[.location]?.hasPrefix(path) == true)
                return (try #require(Self.json(response)["id"]?.stringValue), try #require(response.headers[.eTag]))
            }
            #expect(etag == "\"1\"")
            try await client.execute(uri: "\(path)/\(id)", method: .get, headers: auth) { response in
                #expect(response.status == .ok && response.headers[.eTag] == etag)
                #expect(Self.json(response)["watchers"] == .array([.string("Wang Qiang"), .string("Li Na")]))
            }
            let patch = Self.body(["title": .string("Welding, batch 2")])
            try await client.execute(uri: "\(path)/\(id)", method: .patch, headers: auth, body: patch) { #expect($0.status == .preconditionRequired) }
            var stale = auth
            stale[.ifMatch] = "\"9\""
            try await client.execute(uri: "\(path)/\(id)", method: .patch, headers: stale, body: patch) { #expect($0.status == .preconditionFailed) }
            var current = auth
            current[.ifMatch] = etag
            try await client.execute(uri: "\(path)/\(id)", method: .patch, headers: current, body: patch) { response in
                #expect(response.status == .ok && response.headers[.eTag] == "\"2\"")
            }
            let progress: Object = [
                "completed_quantity": .number(4),
                "confirmation": .object(["mode": .string("fingerprint"), "confirmed_by": .array([.string("Li Na")])]),
            ]
            try await client.execute(uri: "\(path)/\(id)/steps/step-1/progress", method: .post, headers: auth, body: Self.body(progress)) {
                response in
                #expect(response.status == .created)
                let result = Self.json(response)
                #expect(result["order"]?["status"] == .string("IN_PROGRESS") && result["progress"]?["completed_quantity"] == .number(4))
            }

            // Bad input: a clear 4xx, and nothing written.
            let refusals: [(String, HTTPRequest.Method, Object, HTTPResponse.Status, String)] = [
                ("\(path)/\(id)/status", .patch, ["status": .string("ARCHIVED")], .unprocessableContent, "validation_failed"),
                ("\(path)/\(id)/status", .patch, ["status": .string("PLANNED")], .conflict, "transition_refused"),
                (
                    "\(path)/\(id)/steps/step-1/progress", .post, progress.merging(["completed_quantity": .number(-3)]) { $1 }, .unprocessableContent,
                    "validation_failed"
                ),
                ("\(path)/\(id)/steps/no-such-step/progress", .post, progress, .notFound, "not_found"),
                ("\(path)/\(id)/messages", .post, ["body": .string(String(repeating: "x", count: 4001))], .unprocessableContent, "validation_failed"),
                (
                    path, .post, Self.draft.merging(["target_quantity": .number(-1), "priority": .string("URGENT")]) { $1 }, .unprocessableContent,
                    "validation_failed"
                ),
                ("\(path)/\(UUID())/steps/step-1/progress", .post, progress, .notFound, "not_found"),
            ]
            for (uri, method, body, status, code) in refusals {
                try await client.execute(uri: uri, method: method, headers: auth, body: Self.body(body)) { response in
                    #expect(response.status == status, "\(method) \(uri)")
                    #expect(response.headers[.contentType] == "application/problem+json")
                    #expect(Self.json(response)["code"] == .string(code), "\(method) \(uri)")
                }
            }
            try await client.execute(uri: "\(path)/\(id)", method: .get, headers: auth) { response in
                let order = Self.json(response)
                #expect(order["version"] == .number(3) && order["completed_quantity"] == .number(4), "the refusals wrote nothing")
            }
            try await client.execute(uri: "\(path)/\(id)/messages", method: .get, headers: auth) { response in
                #expect(Self.json(response)["items"] == .array([]))
            }
            try await client.execute(uri: "\(path)?status=IN_PROGRESS&limit=5", method: .get, headers: auth) { response in
                #expect(Self.json(response)["items"]?.arrayValue?.count == 1)
            }
            try await client.execute(uri: "\(path)?status=nope", method: .get, headers: auth) { #expect($0.status == .unprocessableContent) }
            try await client.execute(uri: "\(path)/\(id)", method: .get) { #expect($0.status == .unauthorized) }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aCustomerSignsInAndReachesOnlyTheirOrder() async throws {
        try await withApp { client, auth, _ in
            let path = "/api/workorders/orders"
            let mine = try await client.execute(uri: path, method: .post, headers: auth, body: Self.body(Self.draft)) {
                Self.json($0)["id"]!.stringValue!
            }
            let other = try await client.execute(uri: path, method: .post, headers: auth, body: Self.body(Self.draft)) {
                Self.json($0)["id"]!.stringValue!
            }
            let access = try await client.execute(
                uri: "\(path)/\(mine)/customer-access",
                method: .post,
                headers: auth,
                body: Self.body(["customer_name": .string("Huaqiang")])
            ) { response in
                #expect(response.status == .created)
                return Self.json(response)
            }
            let login = try #require(access["login"]?.stringValue)
            let password = try #require(access["password"]?.stringValue)
            try await client.execute(uri: "\(path)/\(mine)", method: .get, headers: auth) { response in
                let shown = Self.json(response)["customer_access"]
                #expect(shown?["login"] == .string(login) && shown?["password"] == nil, "the password is shown once")
            }
            try await client.execute(
                uri: "/api/workorders/login",
                method: .post,
                headers: [.contentType: "application/json"],
                body: Self.body(["login": .string(login), "password": .string("wrong-password")])
            ) { #expect($0.status == .unauthorized) }
            let token = try await client.execute(
                uri: "/api/workorders/login",
                method: .post,
                headers: [.contentType: "application/json"],
                body: Self.body(["login": .string(login), "password": .string(password)])
            ) { response in
                #expect(response.status == .ok)
                return try #require(Self.json(response)["token"]?.stringValue)
            }
            let customer: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json"]
            try await client.execute(uri: "\(path)/\(mine)", method: .get, headers: customer) { #expect($0.status == .ok) }
            try await client.execute(uri: "\(path)/\(other)", method: .get, headers: customer) {
                #expect($0.status == .notFound, "out of scope looks missing")
            }
            try await client.execute(uri: path, method: .get, headers: customer) { response in
                #expect(Self.json(response)["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [mine])
            }
            try await client.execute(
                uri: "\(path)/\(mine)/messages",
                method: .post,
                headers: customer,
                body: Self.body(["body": .string("When will it ship?")])
            ) { response in
                let message = Self.json(response)
                #expect(response.status == .created && message["role"] == .string("customer"))
            }
            try await client.execute(uri: "\(path)/\(other)/messages", method: .post, headers: customer, body: Self.body(["body": .string("hi")])) {
                #expect($0.status == .notFound)
            }
            try await client.execute(
                uri: "\(path)/\(mine)/status",
                method: .patch,
                headers: customer,
                body: Self.body(["status": .string("CANCELLED")])
            ) {
                #expect($0.status == .forbidden, "customers read and chat, nothing more")
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func attachmentsUploadDownloadAndAreLimitedInSize() async throws {
        try await withApp { client, auth, _ in
            let path = "/api/workorders/orders"
            let id = try await client.execute(uri: path, method: .post, headers: auth, body: Self.body(Self.draft)) {
                Self.json($0)["id"]!.stringValue!
            }
            var upload = auth
            upload[.contentType] = "application/pdf"
            let pdf = ByteBuffer(bytes: Array("%PDF-1.7 welding report".utf8))
            let location = try await client.execute(
                uri: "\(path)/\(id)/attachments?file_name=report%20v2.pdf&note=for%20QA",
                method: .post,
                headers: upload,
                body: pdf
            ) { response in
                #expect(response.status == .created)
                let message = Self.json(response)
                #expect(message["message_type"] == .string("attachment") && message["body"] == .string("for QA"))
                #expect(message["file"]?["file_name"] == .string("report v2.pdf"))
                return try #require(response.headers[.location])
            }
            try await client.execute(uri: location, method: .get, headers: auth) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "application/pdf")
                #expect(response.headers[.contentDisposition] == "attachment; filename=\"report v2.pdf\"")
                #expect(Data(response.body.readableBytesView) == Data("%PDF-1.7 welding report".utf8))
            }
            // The same upload as multipart/form-data: the part's filename and media type are kept.
            var form = MultipartBody()
            form.file(fileName: "photo.png", contentType: "image/png", data: Array("\u{89}PNG fake".utf8))
            var formHeaders = auth
            formHeaders[.contentType] = form.contentType
            let photo = try await client.execute(
                uri: "\(path)/\(id)/attachments?type=attachment",
                method: .post,
                headers: formHeaders,
                body: ByteBuffer(bytes: form.body)
            ) { response in
                #expect(response.status == .created, "\(String(buffer: response.body))")
                #expect(Self.json(response)["file"]?["file_name"] == .string("photo.png"))
                return try #require(response.headers[.location])
            }
            try await client.execute(uri: photo, method: .get, headers: auth) { response in
                #expect(response.headers[.contentType] == "image/png")
                #expect(Data(response.body.readableBytesView) == Data("\u{89}PNG fake".utf8))
            }
            let big = ByteBuffer(bytes: [UInt8](repeating: 7, count: 64 * 1024 + 1))
            try await client.execute(uri: "\(path)/\(id)/attachments?file_name=big.bin", method: .post, headers: upload, body: big) {
                #expect($0.status == .contentTooLarge)
            }
            try await client.execute(uri: "\(path)/\(id)/attachments", method: .post, headers: upload, body: pdf) {
                #expect($0.status == .unprocessableContent, "file_name is required")
            }
            let ocr: Object = ["result": .object(["rows": .number(3)]), "summary": .string("3 rows")]
            try await client.execute(uri: "\(path)/\(id)/ocr-results", method: .post, headers: auth, body: Self.body(ocr)) { response in
                #expect(response.status == .created && Self.json(response)["role"] == .string("bot"))
            }
            try await client.execute(uri: "\(path)/\(id)/messages", method: .get, headers: auth) { response in
                #expect(Self.json(response)["items"]?.arrayValue?.count == 3, "the refused uploads wrote no message")
            }
        }
    }
}

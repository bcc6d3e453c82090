import Foundation
import Hummingbird
import HummingbirdTesting
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataServer
import StrataTestSupport
import Testing

@Suite struct OpenAPIDocumentTests {
    @Test(.timeLimit(.minutes(1)))
    func theDocumentDescribesExactlyTheRoutesTheServerRegisters() async throws {
        let routes = RouteTable()
        try await withTestApplication(routes: routes) { _, client, _ in
            let endpoints = routes.endpoints
            let registered = Set(endpoints.map(\.description))
            let documented = OpenAPIDocument.operations(in: try OpenAPIDocument.data(of: StrataApplication.modules))
            #expect(registered.subtracting(documented).isEmpty, "routes missing from openapi.json: \(registered.subtracting(documented).sorted())")
            #expect(
                documented.subtracting(registered).isEmpty,
                "openapi.json describes routes that do not exist: \(documented.subtracting(registered).sorted())"
            )
            #expect(registered.count == endpoints.count, "no route is registered twice")

            try await client.execute(uri: "/openapi.json", method: .get) { response in
                #expect(response.status == .ok)
                let document = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]
                #expect(document?["openapi"] as? String == "3.1.0")
            }
        }
    }
}

/// A module whose part of the document redefines one of the platform's paths.
struct ClashingDocumentModule: StrataModule {
    let name = "clash"
    func migrationLine() throws -> MigrationLine { try MigrationLine(module: name, migrations: []) }
    func openAPIFragment() throws -> Data? {
        Data(#"{"paths": {"/api/clash/things": {"get": {}}, "/health": {"get": {}}}}"#.utf8)
    }
}

@Suite struct OpenAPIMergeTests {
    @Test func eachModuleAddsItsPartAndAPartCannotRedefineAnother() throws {
        let merged = OpenAPIDocument.operations(in: try OpenAPIDocument.data(of: StrataApplication.modules))
        #expect(merged.contains("GET /health") && merged.contains("POST /api/simjobs/tasks/batch") && merged.contains("GET /api/workorders/orders"))
        #expect(throws: StrataError.self) { try OpenAPIDocument.data(of: StrataApplication.modules + [ClashingDocumentModule()]) }
    }
}

@Suite struct MethodNotAllowedTests {
    @Test(.timeLimit(.minutes(1)))
    func aKnownPathWithAnotherMethodIs405WithAllow() async throws {
        try await withTestApplication { _, client, _ in
            try await client.execute(uri: "/health", method: .put) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET")
            }
            try await client.execute(uri: "/api/strata/keys/abc", method: .get) { response in
                #expect(response.status == .methodNotAllowed && response.headers[.allow] == "DELETE")
            }
            try await client.execute(uri: "/no/such/path", method: .get) { response in
                #expect(response.status == .notFound)
            }
            // A constant segment wins over a parameter (the router does not go back), so
            // tasks/optimization answers only POST, not also tasks/{id}'s GET.
            try await client.execute(uri: "/api/simjobs/tasks/optimization", method: .get) { response in
                #expect(response.status == .methodNotAllowed && response.headers[.allow] == "POST")
            }
            try await client.execute(uri: "/api/simjobs/models/loaded", method: .delete) { response in
                #expect(response.status == .methodNotAllowed && response.headers[.allow] == "GET")
            }
            try await client.execute(uri: "/api/simjobs/tasks/\(UUID())", method: .put) { response in
                #expect(response.status == .methodNotAllowed && response.headers[.allow] == "GET")
            }
        }
    }
}

import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PostgresNIO
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataTestSupport
import Testing

@testable import Factory

/// What the factory tests share: the app over HTTP with an unscoped `factory.*` key, a small
/// plant (two factories, a line and a station each), and JSON helpers.
enum FactoryHarness {
    typealias Object = [String: JSONValue]

    /// The app and its client; `headers` carry the unscoped key.
    static func withApp(
        _ body: @escaping @Sendable (any TestClientProtocol, HTTPFields, TestDatabase) async throws -> Void
    ) async throws {
        try await withTestModule(FactoryModule()) { database, client, _ in
            let key = try await APIKeyStore(pool: database.pool).create(.init(name: "plant-admin", permissions: ["factory.*"])).secret
            let headers: HTTPFields = [.xAPIKey: key, .contentType: "application/json"]
            try await seedPlant(client, headers)
            try await body(client, headers, database)
        }
    }

    /// Lines L1 (factory F1, station S1) and L2 (factory F2, station S2).
    static func seedPlant(_ client: any TestClientProtocol, _ headers: HTTPFields) async throws {
        for (line, factory, station) in [("L1", "F1", "S1"), ("L2", "F2", "S2")] {
            try await expect(
                client,
                .post,
                "/api/factory/lines",
                headers,
                ["line_id": .string(line), "line_name": .string("Line \(line)"), "factory_id": .string(factory)],
                .created
            )
            try await expect(
                client,
                .post,
                "/api/factory/lines/\(line)/stations",
                headers,
                ["station_id": .string(station), "station_name": .string("Welding \(station)"), "sequence_order": .number(1)],
                .created
            )
        }
    }

    /// Sends a request, checks its status and returns its JSON object.
    @discardableResult
    static func expect(
        _ client: any TestClientProtocol,
        _ method: HTTPRequest.Method,
        _ uri: String,
        _ headers: HTTPFields,
        _ body: Object? = nil,
        _ status: HTTPResponse.Status = .ok,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Object {
        try await client.execute(
            uri: uri,
            method: method,
            headers: headers,
            body: body.map { ByteBuffer(bytes: Array(JSONValue.object($0).text.utf8)) }
        ) {
            response in
            let object = json(response)
            #expect(response.status == status, "\(method) \(uri): \(object)", sourceLocation: sourceLocation)
            return object
        }
    }

    static func json(_ response: TestResponse) -> Object {
        (try? JSONDecoder.api().decode(Object.self, from: Data(response.body.readableBytesView))) ?? [:]
    }

    static func anomaly(line: String = "L1", station: String? = "S1", severity: String = "high") -> Object {
        var report: Object = ["line_id": .string(line), "defect_type": .string("weld porosity"), "severity": .string(severity)]
        if let station { report["station_id"] = .string(station) }
        report["description"] = .string("Porosity found on seam 3 during inspection")
        return report
    }

    /// Counts rows of a statement's single number.
    static func count(_ database: TestDatabase, _ sql: String) async throws -> Int64 {
        try await database.pool.query(PostgresQuery(unsafeSQL: sql)).first?.decode(Int64.self) ?? -1
    }
}

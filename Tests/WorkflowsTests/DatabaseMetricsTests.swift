import Foundation
import HTTPTypes
import HummingbirdTesting
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataTestSupport
import Testing

@testable import Workflows

@Suite struct DatabaseMetricsTests {
    typealias H = WorkflowsHarness

    @Test(.timeLimit(.minutes(1)))
    func theAppsTablesAreNamedByRelnameAndOnlyAdminsSeeThem() async throws {
        try await H.withApp { client, _, database in
            let admin = try await APIKeyStore(pool: database.pool).create(.init(name: "admin", permissions: ["workflows.admin"])).secret
            let reader = try await APIKeyStore(pool: database.pool).create(.init(name: "reader", permissions: ["workflows.read"])).secret
            try await client.execute(uri: "/api/workflows/admin/db-metrics", method: .get, headers: [.xAPIKey: reader]) {
                #expect($0.status == .forbidden)
            }
            let metrics = try await client.execute(uri: "/api/workflows/admin/db-metrics", method: .get, headers: [.xAPIKey: admin]) { H.json($0) }
            let tables = metrics["tables"]?.arrayValue ?? []
            #expect(tables.contains { $0["relname"] == .string("execution_entity") })
            #expect(tables.allSatisfy { $0["schemaname"] == .string("workflows") && $0["tablename"] == nil })
            #expect(metrics["numbackends"]?.numberValue ?? 0 >= 1 && metrics["xact_commit"]?.numberValue != nil)
        }
    }
}

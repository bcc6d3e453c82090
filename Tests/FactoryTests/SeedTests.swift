import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

@testable import Factory

@Suite struct FactorySeedTests {
    @Test(.timeLimit(.minutes(3)))
    func theDemoPlantIsSeededOnceAndASecondRunAddsNothing() async throws {
        try await withTestModule(FactoryModule()) { database, _, environment in
            let module = FactoryModule()
            let first = try #require(try await module.seedDemoData(environment: environment))
            #expect(first.contains { $0.hasPrefix("created user li-wei (sign in as 'Li Wei' with password ") })
            let counts =
                "SELECT (SELECT count(*) FROM factory.production_metrics) || '/' || (SELECT count(*) FROM factory.anomalies) || '/' || (SELECT count(*) FROM factory.graph_edges) || '/' || (SELECT count(*) FROM factory.defect_images) || '/' || (SELECT count(DISTINCT status) FROM factory.anomalies)"
            let before = try await database.pool.query(PostgresQuery(unsafeSQL: counts)).first?.decode(String.self)
            #expect(before == "103680/7/8/7/7", "7 anomalies in 7 states, 2 problems linked to 4 shared causes and an evidence")
            let second = try #require(try await module.seedDemoData(environment: environment))
            #expect(second.last?.contains("0 created") == false && second.contains("exists 7 demo anomalies"))
            #expect(try await database.pool.query(PostgresQuery(unsafeSQL: counts)).first?.decode(String.self) == before)
            #expect(try await database.pool.query("SELECT count(*) FROM factory.case_library").first?.decode(Int64.self) == 1)
            #expect(try await database.pool.query("SELECT count(*) FROM factory.metric_rollup_dirty").first?.decode(Int64.self) == 0)
        }
    }
}

import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

@testable import Workflows

/// The hand-written JSON of the app's responses says what `JSONEncoder` says (as JSON values:
/// stored documents are copied as PostgreSQL writes them).
@Suite struct JSONWritingTests {
    func same(_ value: some JSONWritable) throws -> Bool {
        let written = try JSONValue(parsing: String(decoding: value.jsonBytes, as: UTF8.self))
        let encoded = try JSONValue(parsing: String(decoding: try JSONEncoder.api().encode(value), as: UTF8.self))
        return written == encoded
    }

    @Test(.timeLimit(.minutes(1)))
    func workflowsExecutionsAndClaimsAreWrittenAsTheyEncode() async throws {
        try await withTestDatabase(lines: [try WorkflowsModule().migrationLine()]) { database in
            let workflow = try await ExecutionTests.workflow(database.pool, settings: .init(saveDataSuccessExecution: .all, retryOnCrash: 2))
            let service = ExecutionService(pool: database.pool)
            #expect(try same(workflow))
            #expect(try same(try await WorkflowService(pool: database.pool).workflow(workflow.id, details: false)))
            let execution = try await service.start(workflow: workflow.id, .init(input: .object(["a": .string("b/c")])), by: .job("t")).execution
            #expect(try same(execution))
            let claim = try #require(try await service.claim(worker: "w", limit: 1, lease: .seconds(30), by: .job("w", kind: "worker")).first)
            #expect(try same(claim))
            let ended = try await service.finish(
                execution.id,
                lease: claim.lease,
                .init(status: .failed, result: .array([.null]), error: "x\n\"y\""),
                by: .job("w", kind: "worker")
            )
            #expect(try same(ended))
            #expect(try same(try await service.data(execution.id)))
        }
    }
}

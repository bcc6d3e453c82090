import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataTestSupport
import Testing

@testable import SimJobs

/// `GET /api/simjobs/tasks/{id}/logs/stream` through the server's whole router.
@Suite struct LogStreamTests {
    func script() throws -> CommandTemplate {
        let path = try writeTaskScript(
            """
            cat > /dev/null
            echo "INFO first line"
            sleep 0.4
            echo "WARNING second line"
            sleep 0.4
            echo '{"result_data":{"ok":true}}'
            """
        )
        return try CommandTemplate(path)
    }

    @Test(.timeLimit(.minutes(1)))
    func aStreamOpenedBeforeTheTaskRunsGetsEveryLineThenTheEndAndResumes() async throws {
        try await withTestModule(SimJobsModule()) { database, client, _ in
            let pool = database.pool
            let key = try await APIKeyStore(pool: pool).create(.init(name: "reader", permissions: ["simjobs.read"])).secret
            let task = try await TaskService(pool: pool).submit(
                [TaskService.Submission(modelName: "mace-mp-0-medium", structureName: "MOF-5")],
                type: .optimization,
                by: .job("tester")
            )[0]
            let runner = TaskRunner(
                pool: pool,
                configuration: .init(gpus: [0], command: try script(), name: "stream-worker", pollInterval: .milliseconds(100)),
                logger: TestPostgres.logger
            )
            // Opened while the task waits: the worker starts only after.
            let streamed = Task {
                try await client.execute(uri: "/api/simjobs/tasks/\(task.id)/logs/stream", method: .get, headers: [.xAPIKey: key]) {
                    ($0.status, $0.headers[.contentType], String(buffer: $0.body))
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            let (status, type, body) = try await withRunningServices([runner.worker()], logger: TestPostgres.logger) { try await streamed.value }
            #expect(status == .ok && type == "text/event-stream")
            #expect(body.contains("first line") && body.contains("second line"))
            #expect(body.hasSuffix("event: end\ndata: {\"status\":\"COMPLETED\"}\n\n"), "\(body)")
            let ids = body.split(separator: "\n").filter { $0.hasPrefix("id: ") }.compactMap { Int64($0.dropFirst(4)) }
            #expect(ids.count >= 2 && ids == ids.sorted())

            // Reconnecting with Last-Event-ID continues after that line.
            let first = try #require(ids.first)
            try await client.execute(
                uri: "/api/simjobs/tasks/\(task.id)/logs/stream",
                method: .get,
                headers: [.xAPIKey: key, .lastEventID: "\(first)"]
            ) { response in
                let resumed = String(buffer: response.body)
                #expect(!resumed.contains("id: \(first)\n") && resumed.contains("second line") && resumed.contains("event: end"))
            }
            try await client.execute(uri: "/api/simjobs/tasks/\(UUID())/logs/stream", method: .get, headers: [.xAPIKey: key]) {
                #expect($0.status == .notFound)
            }
            try await client.execute(
                uri: "/api/simjobs/tasks/\(task.id)/logs/stream",
                method: .get,
                headers: [.xAPIKey: key, .lastEventID: "yesterday"]
            ) { #expect($0.status == .unprocessableContent || $0.status == .badRequest) }
        }
    }
}

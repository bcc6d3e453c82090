import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresNIO
import ServiceLifecycle
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataTestSupport
import Testing

@testable import SimJobs

/// What workers measure and hold: GPU readings from the probe reach the alert rules, and model
/// loads asked through the catalog are carried out by the worker's model command.
@Suite struct WorkerGPUTests {
    @Test func probeOutputInNvidiaSMIFormatIsParsed() {
        let readings = GPUProbe.parse(["0, 1024, 24576, 91, 50", "1, 23000 MiB, 24576 MiB, [N/A], 3 %", "garbage", ""])
        #expect(readings.count == 2)
        #expect(readings[0] == GPUReading(gpuID: 0, memoryFreeMB: 1024, memoryTotalMB: 24576, temperatureC: 91, utilizationPercent: 50))
        #expect(readings[1].memoryFreeMB == 23000 && readings[1].temperatureC == nil && readings[1].utilizationPercent == 3)
    }

    func runner(
        _ pool: PostgresPool,
        name: String,
        gpus: [Int],
        probe: String?,
        modelCommand: String?,
        // A worker is online for three heartbeats: long enough that a loaded machine does not
        // see it go offline between two steps of a test.
        heartbeat: Duration = .seconds(1)
    ) throws -> TaskRunner {
        TaskRunner(
            pool: pool,
            configuration: .init(
                gpus: gpus,
                command: try CommandTemplate(try writeTaskScript("cat > /dev/null")),
                name: name,
                heartbeatInterval: heartbeat,
                pollInterval: .milliseconds(100),
                gpuProbe: try probe.map { GPUProbe(try CommandTemplate(try writeTaskScript($0))) },
                modelCommand: try modelCommand.map { try CommandTemplate(try writeTaskScript($0)) }
            ),
            logger: TestPostgres.logger
        )
    }

    @Test(.timeLimit(.minutes(1)))
    func gpuReadingsFromTheProbeRaiseTheMemoryAndTemperatureAlerts() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let pool = database.pool
            // GPU 0 is hot and nearly full; GPU 1 is fine; GPU 7 is not this worker's.
            let worker = try runner(
                pool,
                name: "gpu-box",
                gpus: [0, 1],
                probe: "echo '0, 1024, 24576, 91, 50'\necho '1, 20000, 24576, 60, 0'\necho '7, 1, 1, 120, 0'",
                modelCommand: nil
            )
            let evaluator = AlertEvaluator(pool: pool, diskPath: NSTemporaryDirectory())
            try await withRunningServices([worker.presence()], logger: TestPostgres.logger) {
                #expect(try await eventually { try await evaluator.measurements()["max_gpu_temp"] != nil })
                let measured = try await evaluator.measurements()
                #expect(measured["max_gpu_temp"] == 91 && measured["min_gpu_free_memory_gb"] == 1)
                let status = try #require(try await TaskService(pool: pool).workers().first)
                #expect(status.gpuReadings.map(\.gpuID) == [0, 1] && status.gpuReadingsAt != nil)
                // A pass that finds the readings stale raises nothing: evaluate until the alerts are raised.
                let openAlerts = {
                    let open = try await AlertService(pool: pool).alerts(resolved: false, level: "WARNING", limit: 50, cursor: nil).items
                    return Set(open.map { $0.message.components(separatedBy: ":")[0] })
                }
                _ = try await eventually(within: .seconds(20)) {
                    try await evaluator.evaluate()
                    return try await openAlerts().isSuperset(of: ["gpu_memory_low", "gpu_temperature_high"])
                }
                let names = try await openAlerts()
                #expect(names.isSuperset(of: ["gpu_memory_low", "gpu_temperature_high"]), "\(names)")
            }
            let lifecycle = try await pool.query(
                "SELECT string_agg(message, ' | ' ORDER BY id) FROM simjobs.system_logs WHERE source = 'worker' AND logger = 'simjobs.workers'"
            ).first?.decode(String?.self)
            #expect(
                lifecycle?.hasPrefix("Worker gpu-box started on ") == true && lifecycle?.hasSuffix("with GPUs 0,1. | Worker gpu-box stopped.") == true
            )
            // Readings older than three heartbeats count for nothing.
            try await pool.query("UPDATE simjobs.workers SET gpu_readings_at = now() - interval '1 hour'")
            #expect(try await evaluator.measurements()["max_gpu_temp"] == nil)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aFailingProbeLeavesNoReadingsAndTheWorkerStaysOnline() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let pool = database.pool
            // The probe leaves a mark, so the test knows it ran and failed (not that it never ran).
            let ran = NSTemporaryDirectory() + "/gpu-probe-ran-\(UUID().uuidString.prefix(8))"
            let worker = try runner(pool, name: "no-probe", gpus: [0], probe: "touch '\(ran)'\necho broken >&2\nexit 3", modelCommand: nil)
            try await withRunningServices([worker.presence()], logger: TestPostgres.logger) {
                #expect(try await eventually { try await TaskService(pool: pool).workers().first?.state == .online })
                #expect(try await eventually { FileManager.default.fileExists(atPath: ran) }, "the probe ran")
                try await Task.sleep(for: .milliseconds(300))  // time to (wrongly) store a reading
                let status = try #require(try await TaskService(pool: pool).workers().first)
                #expect(status.gpuReadings.isEmpty && status.gpuReadingsAt == nil)
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func modelsAreLoadedAndUnloadedByTheWorkersModelCommand() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let pool = database.pool
            let record = NSTemporaryDirectory() + "/model-hook-\(UUID().uuidString.prefix(8)).log"
            // The hook records what it was asked (stdin and the GPU it sees) and refuses orb-v2.
            let hook = """
                input=$(cat)
                echo "$CUDA_VISIBLE_DEVICES $input" >> '\(record)'
                case "$input" in *'"orb-v2"'*) echo 'out of memory' >&2; exit 1;; esac
                """
            let worker = try runner(pool, name: "loader", gpus: [0, 1], probe: nil, modelCommand: hook)
            let catalog = ModelCatalog(pool: pool)
            let caller = Caller(actor: "api_key:ops", name: "ops")
            await #expect(throws: StrataError.self) {
                _ = try await catalog.requestLoad("mace-mp-0-medium", .init(), by: caller)
            }
            try await withRunningServices([worker.presence(), worker.modelLoader(), worker.worker()], logger: TestPostgres.logger) {
                #expect(try await eventually { try await TaskService(pool: pool).workers().first?.state == .online })
                let asked = try await catalog.requestLoad("mace-mp-0-medium", .init(gpuID: 1), by: caller)
                #expect(asked.state == .loading && asked.worker == "loader" && asked.gpuID == 1)
                #expect(try await eventually { try await catalog.model("mace-mp-0-medium").isLoaded })
                #expect(try await catalog.model("mace-mp-0-medium").loadedGPUID == 1)
                // Affinity: with both GPUs free, the model's task goes to the GPU holding it.
                let tasks = TaskService(pool: pool)
                let task = try await tasks.submit(
                    [.init(modelName: "mace-mp-0-medium", structureName: "MOF-5")],
                    type: .singlePointEnergy,
                    by: caller
                )[0]
                #expect(try await eventually { try await tasks.task(task.id).status == .completed })
                #expect(try await tasks.task(task.id).gpuID == 1)
                // A second model goes to the GPU holding none.
                let second = try await catalog.requestLoad("sevennet-0", .init(), by: caller)
                #expect(second.gpuID == 0)
                // A load the command refuses is recorded as failed, with its reason.
                _ = try await catalog.requestLoad("orb-v2", .init(), by: caller)
                #expect(try await eventually { try await catalog.loads(of: "orb-v2").first?.state == .failed })
                #expect(try await catalog.loads(of: "orb-v2").first?.message?.contains("out of memory") == true)
                #expect(try await catalog.model("orb-v2").isLoaded == false)
                #expect(try await eventually { try await catalog.loads(state: .loaded).count == 2 })

                let unloading = try await catalog.requestUnload("mace-mp-0-medium", .init(), by: caller)
                #expect(unloading.map(\.state) == [.unloading])
                #expect(try await eventually { try await catalog.loads(of: "mace-mp-0-medium").isEmpty })
                #expect(try await catalog.model("mace-mp-0-medium").isLoaded == false)
                await #expect(throws: StrataError.self) {
                    _ = try await catalog.requestUnload("mace-mp-0-medium", .init(), by: caller)
                }
                await #expect(throws: StrataError.self) {
                    _ = try await catalog.requestLoad("mace-mp-0-medium", .init(worker: "elsewhere"), by: caller)
                }
            }
            // Each line: the GPU the command saw, then the JSON it was given.
            let asked = try String(contentsOfFile: record, encoding: .utf8).split(separator: "\n").map { line in
                let (gpu, json) = (line.prefix { $0 != " " }, line.drop { $0 != " " }.dropFirst())
                let input = try JSONValue(parsing: String(json))
                return
                    "\(gpu) \(input["action"]?.stringValue ?? "?") \(input["model"]?["name"]?.stringValue ?? "?") \(input["gpu_id"]?.numberValue.map { Int($0) } ?? -1)"
            }
            #expect(asked == ["1 load mace-mp-0-medium 1", "0 load sevennet-0 0", "0 load orb-v2 0", "1 unload mace-mp-0-medium 1"])
            let events =
                try await pool.query(
                    "SELECT string_agg(kind, ',' ORDER BY id) FROM strata.outbox WHERE aggregate_type = 'model'"
                ).first?.decode(String.self) ?? ""
            #expect(events.contains("model.load_requested") && events.contains("model.loaded") && events.contains("model.load_failed"))
            #expect(events.contains("model.unload_requested") && events.contains("model.unloaded"))
            let logged = try await pool.query("SELECT count(*) FROM simjobs.system_logs WHERE source = 'worker' AND logger = 'simjobs.models'")
                .first?.decode(Int64.self)
            #expect(logged == 4, "loaded twice, failed once, unloaded once")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func loadsAreAskedAndListedOverHTTPWithClearRefusals() async throws {
        try await withTestModule(SimJobsModule()) { database, client, _ in
            let pool = database.pool
            let keys = APIKeyStore(pool: pool)
            let admin = try await keys.create(.init(name: "admin", permissions: ["simjobs.*"])).secret
            let reader = try await keys.create(.init(name: "reader", permissions: ["simjobs.read"])).secret
            try await pool.query(
                "INSERT INTO simjobs.workers (name, hostname, pid, gpus, heartbeat_seconds, started_at) VALUES ('w1', 'host', 42, '{0,1}', 60, now())"
            )
            var auth: HTTPFields = [.xAPIKey: admin, .contentType: "application/json"]
            let models = "/api/simjobs/models"
            try await client.execute(
                uri: "\(models)/mace-mp-0-medium/load",
                method: .post,
                headers: auth,
                body: ByteBuffer(string: #"{"gpu_id": 1}"#)
            ) { response in
                #expect(response.status == .accepted, "\(String(buffer: response.body))")
                let load = try JSONValue(parsing: String(buffer: response.body))
                #expect(load["worker"] == .string("w1") && load["gpu_id"] == .number(1) && load["state"] == .string("loading"))
            }
            try await client.execute(uri: "\(models)/loaded?state=loading", method: .get, headers: [.xAPIKey: reader]) { response in
                #expect(response.status == .ok)
                let listed = try JSONValue(parsing: String(buffer: response.body))
                #expect(listed["items"]?.arrayValue?.count == 1)
            }
            let refusals: [(String, String, String, HTTPResponse.Status)] = [
                ("\(models)/mace-mp-0-medium/load", admin, #"{"gpu_id": -1}"#, .unprocessableContent),
                ("\(models)/mace-mp-0-medium/load", admin, #"{"gpu_id": 5}"#, .conflict),
                ("\(models)/no-such-model/load", admin, "{}", .notFound),
                ("\(models)/orb-v2/unload", admin, "", .conflict),
                ("\(models)/orb-v2/load", reader, "", .forbidden),
                ("\(models)/orb-v2/load", admin, "[1]", .badRequest),
            ]
            for (uri, key, body, status) in refusals {
                auth[.xAPIKey] = key
                try await client.execute(uri: uri, method: .post, headers: auth, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == status, "\(uri) \(body): \(String(buffer: response.body))")
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
            }
            try await client.execute(uri: "\(models)/loaded?state=sideways", method: .get, headers: [.xAPIKey: reader]) {
                #expect($0.status == .unprocessableContent)
            }
            // A failure on the server's side is in the system log with its request id.
            try await pool.query("ALTER TABLE simjobs.model_loads RENAME TO model_loads_gone")
            let requestID = try await client.execute(uri: "\(models)/loaded", method: .get, headers: [.xAPIKey: reader]) { response in
                #expect(response.status == .serviceUnavailable, "a missing table: the schema is not ready")
                return response.headers[.xRequestID]
            }
            try await pool.query("ALTER TABLE simjobs.model_loads_gone RENAME TO model_loads")
            let logged = try await SystemLog(pool: pool).list(.init(level: "ERROR", source: .api), limit: 10, cursor: nil).items
            #expect(logged.count == 1 && logged.first?.requestID == requestID && requestID != nil)
            #expect(logged.first?.message == "GET /api/simjobs/models/loaded answered 503 (not_ready).")
            #expect(try await pool.query("SELECT count(*) FROM simjobs.model_loads").first?.decode(Int64.self) == 1, "refusals wrote nothing")
        }
    }
}

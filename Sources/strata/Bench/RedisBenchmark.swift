import Foundation
import Logging
import StrataCore
import StrataRedis
import StrataServer

/// GET and SET through Strata's Redis client with many concurrent callers, beside
/// `redis-benchmark -t get,set` (non-pipelined, one connection per client) against the same
/// server in the same run.
struct RedisBenchmark {
    struct Plan: Sendable {
        var callers: Int
        var requests: Int
        var connections: Int
        var peer: Bool
    }

    let plan: Plan
    let configuration: ServerConfiguration
    let logger: Logger
    let report: Report

    func run() async throws {
        let hotLayer = await HotLayer.open(configuration: configuration, logger: logger)
        guard let shared = hotLayer.client else {
            throw StrataError(.redisUnavailable, "No Redis to measure: \(hotLayer.disabledReason ?? "set REDIS_URL")")
        }
        var clientConfiguration = shared.configuration
        clientConfiguration.connections = plan.connections
        let redis = RedisClient(configuration: clientConfiguration, logger: logger)
        do {
            try await runWorkloads(redis: redis)
            await redis.close()
            await hotLayer.embedded?.stop()
        } catch {
            await redis.close()
            await hotLayer.embedded?.stop()
            throw error
        }
    }

    private func runWorkloads(redis: RedisClient) async throws {
        let url = redis.configuration.url
        report.note(
            "redis benchmark: \(plan.callers) callers over \(redis.configuration.connections) pipelined connections, \(url.endpointDescription)"
        )
        let value: [UInt8] = Array("xxx".utf8)  // redis-benchmark's default 3-byte value
        let keys = (0..<10_000).map { "bench:key:\($0)" }
        let peer = plan.peer ? try await redisBenchmark(url: url) : [:]

        let set = try await measureConcurrently(plan.requests, concurrency: plan.callers) { index in
            try await redis.set(keys[index % keys.count], to: value)
        }
        emit("redis.set", set, peer: peer["SET"])
        let get = try await measureConcurrently(plan.requests, concurrency: plan.callers) { index in
            guard try await redis.get(keys[index % keys.count]) != nil else {
                throw StrataError(.internalError, "a benchmark GET missed its key")
            }
        }
        emit("redis.get", get, peer: peer["GET"])

        // The read path apps use: HotCache hits (GET plus decoding a JSON value).
        struct Anomaly: Codable, Sendable {
            var id: Int
            var status: String
            var title: String
        }
        let cache = HotCache<Anomaly>(redis: redis, name: "bench", ttl: .seconds(600), logger: logger)
        for index in 0..<100 {
            _ = try await cache.get("\(index)") { .init(value: Anomaly(id: index, status: "open", title: "Spindle temperature"), version: 1) }
        }
        let hit = try await measureConcurrently(plan.requests, concurrency: plan.callers) { index in
            guard try await cache.get("\(index % 100)", load: { nil }) != nil else {
                throw StrataError(.internalError, "a benchmark cache read missed")
            }
        }
        emit("cache.hit", hit, peer: nil)
        report.emit([("workload", "memory"), ("peak_rss_mb", peakResidentMegabytes())])
        _ = try await redis.delete(keys + (0..<100).map { "strata:cache:bench:\($0)" })
    }

    private func emit(_ workload: String, _ result: BenchResult, peer: Double?) {
        var fields: [(String, Any)] = [
            ("workload", workload), ("ops_per_s", result.opsPerSecond), ("p50_ms", result.p50), ("p99_ms", result.p99),
        ]
        if let peer {
            fields += [("peer", "redis-benchmark -c \(plan.callers)"), ("peer_ops_per_s", peer), ("ratio", result.opsPerSecond / peer)]
        }
        report.emit(fields)
    }

    /// Runs `redis-benchmark -t get,set -c N -n M --csv` and returns requests/s by test name.
    private func redisBenchmark(url: RedisURL) async throws -> [String: Double] {
        let program = ["/usr/bin/redis-benchmark", "/usr/local/bin/redis-benchmark"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let program else {
            throw StrataError(.dependencyMissing, "redis-benchmark not found; install it with: apt-get install -y redis-tools")
        }
        var arguments = ["-t", "get,set", "-c", "\(plan.callers)", "-n", "\(plan.requests)", "--csv"]
        switch url.address {
        case .tcp(let host, let port): arguments += ["-h", host, "-p", "\(port)"]
        case .unix(let path): arguments += ["-s", path]
        }
        var environment = ProcessInfo.processInfo.environment
        if let password = url.password { environment["REDISCLI_AUTH"] = password }
        let output = try await ChildProcess.run(program, arguments, environment: environment)
        var figures: [String: Double] = [:]
        for line in output.split(separator: "\n") {
            let cells = line.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            if cells.count >= 2, let rps = Double(cells[1]) { figures[cells[0]] = rps }
        }
        guard figures["GET"] != nil, figures["SET"] != nil else {
            throw StrataError(.internalError, "redis-benchmark printed no GET/SET figures: \(output.suffix(300))")
        }
        return figures
    }
}

import Foundation
public import Hummingbird
import StrataCore
import Synchronization

/// Whether the process should take traffic; turned off first at shutdown so that load
/// balancers stop sending requests before the server stops accepting them.
public final class Readiness: Sendable {
    private let accepting = Atomic<Bool>(true)

    public init() {}

    /// Marks the process as draining: `/ready` answers 503 from now on.
    public func beginDraining() { accepting.store(false, ordering: .relaxed) }

    /// Whether the process still takes traffic.
    public var isAccepting: Bool { accepting.load(ordering: .relaxed) }
}

/// One named readiness check, such as "database reachable" or "migrations current".
public struct ReadinessCheck: Sendable {
    /// The name shown in `/ready`'s body.
    public var name: String
    /// Returns a short status ("ok", "current") or throws a ``StrataError`` saying what is wrong.
    public var check: @Sendable () async throws -> String

    public init(name: String, check: @escaping @Sendable () async throws -> String) {
        self.name = name
        self.check = check
    }
}

/// `GET /health`, `GET /ready` and `GET /metrics`.
///
/// - `/health`: the process answers (`{"status":"ok"}`), nothing else is checked.
/// - `/ready`: every ``ReadinessCheck`` passes and the process is not draining; otherwise 503
///   problem+json (`not_ready`) with each check's result in `details`.
/// - `/metrics`: Prometheus text from the given renderer.
public struct HealthController: Sendable {
    let readiness: Readiness
    let checks: [ReadinessCheck]
    let metrics: @Sendable () async -> String
    let checkTimeout: Duration

    /// - Parameters:
    ///   - readiness: The draining switch.
    ///   - checks: The checks `/ready` runs, concurrently, each bounded by `checkTimeout`.
    ///   - checkTimeout: How long one check may take before it counts as failed.
    ///   - metrics: Renders the Prometheus exposition text.
    public init(
        readiness: Readiness,
        checks: [ReadinessCheck],
        checkTimeout: Duration = .seconds(3),
        metrics: @escaping @Sendable () async -> String
    ) {
        self.readiness = readiness
        self.checks = checks
        self.checkTimeout = checkTimeout
        self.metrics = metrics
    }

    /// Runs `check`, failing with `not_ready` when it takes longer than `timeout`.
    static func bounded(_ timeout: Duration, _ check: @escaping @Sendable () async throws -> String) async throws -> String {
        try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask { try await check() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else {
                throw StrataError(.notReady, "no answer within \(timeout)")
            }
            return result
        }
    }

    struct Health: ResponseEncodable, Encodable {
        var status: String
    }

    struct Ready: Encodable {
        var status: String
        var checks: [String: String]
    }

    /// Adds the three routes.
    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        router.get("/health") { _, _ in Health(status: "ok") }
        router.get("/ready") { _, context -> Response in
            var results: [String: String] = [:]
            var failed = false
            if !readiness.isAccepting {
                results["server"] = "draining"
                failed = true
            }
            await withTaskGroup(of: (String, String, Bool).self) { group in
                for check in checks {
                    group.addTask {
                        do {
                            return (check.name, try await Self.bounded(checkTimeout, check.check), true)
                        } catch let error as StrataError {
                            return (check.name, error.message, false)
                        } catch {
                            return (check.name, "failed", false)
                        }
                    }
                }
                for await (name, result, ok) in group {
                    results[name] = result
                    if !ok { failed = true }
                }
            }
            if failed {
                return ProblemDetails(
                    status: .serviceUnavailable,
                    code: StrataError.Code.notReady.rawValue,
                    detail: "The server is not ready to take traffic.",
                    requestID: context.requestID,
                    details: results
                ).response(retryAfter: 1)
            }
            return try Response.json(Ready(status: "ready", checks: results))
        }
        router.get("/metrics") { _, _ -> Response in
            let text = await metrics()
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: text))
            )
        }
    }
}

import Foundation
import Logging
import PostgresNIO
public import ServiceLifecycle
import StrataCore
import StrataPostgres

/// The worker's side of model loads (`simjobs.model_loads`): it carries out the loads and
/// unloads asked of its GPUs (``ModelCatalog/requestLoad(_:worker:gpu:audit:requestID:)``) by
/// running the operator's model command — `strata worker --model-exec 'cmd'` — with
/// `{"action": "load" | "unload", "gpu_id": g, "model": {name, framework, version, config,
/// with_d3}}` on standard input and `CUDA_VISIBLE_DEVICES=g`; exit 0 within the time limit is
/// done, anything else records the load as `failed` with the command's last error line. Without
/// a model command a load is recorded at once: the task command loads its model itself, and the
/// record steers that model's tasks to the GPU (affinity).
///
/// On start it asks again for every model it held (a new process holds none) and forgets the
/// unloads it was asked for. Each outcome commits with its outbox event (`model.loaded`,
/// `model.unloaded`, `model.load_failed`) and a system log line (source `worker`).
public struct ModelLoader: Service {
    let pool: PostgresPool
    let store: ModelStore
    let worker: String
    /// Where the worker's tasks look for the GPUs holding their model.
    let slots: GPUSlots
    let command: OperatorCommand?
    let interval: Duration
    let logger: Logger

    init(pool: PostgresPool, worker: String, slots: GPUSlots, command: CommandTemplate?, timeout: Duration, interval: Duration, logger: Logger) {
        self.pool = pool
        self.store = ModelStore(pool: pool)
        self.worker = worker
        self.slots = slots
        self.command = command.map { OperatorCommand(words: $0.words, timeout: timeout) }
        self.interval = interval
        self.logger = logger
    }

    struct Pending: Sendable {
        var model: String
        var gpu: Int
        var unloading: Bool
        var document: String
    }

    public func run() async {
        var restarted = false
        await repeatUntilShutdown(every: interval) { stopping in
            do {
                if !restarted {
                    try await forgetHeldModels()
                    restarted = true
                }
                while !stopping.isSet, let next = try await nextPending() { try await carryOut(next) }
            } catch {
                logger.debug("model loads not processed; retrying", metadata: ["strata.error": "\(error)"])
            }
        }
    }

    /// A new process holds no model: loads it held are asked for again, unloads are done.
    func forgetHeldModels() async throws {
        let (store, worker, logger) = (store, worker, pool.statementLogger)
        try await pool.withTransaction { connection in try await store.forgetHeldModels(of: worker, on: connection, logger: logger) }
    }

    /// The oldest load or unload waiting for this worker.
    func nextPending() async throws -> Pending? {
        try await store.nextPending(for: worker)
    }

    /// Runs the model command for one load or unload and records how it ended.
    func carryOut(_ pending: Pending) async throws {
        let action = pending.unloading ? "unload" : "load"
        var failure: String?
        if let command {
            var environment = ProcessInfo.processInfo.environment
            environment["CUDA_VISIBLE_DEVICES"] = "\(pending.gpu)"
            let input = #"{"action":"\#(action)","gpu_id":\#(pending.gpu),"model":\#(pending.document)}"#
            do {
                let outcome = try await command.run(input: input, environment: environment)
                if !outcome.succeeded { failure = "The model command failed: \(outcome.failure)." }
            } catch {
                failure = "The model command could not start: \((error as? StrataError)?.message ?? "\(error)")."
            }
        }
        try await record(pending, failure: failure)
    }

    private func record(_ pending: Pending, failure: String?) async throws {
        let logger = pool.statementLogger
        let recorded = try await pool.withTransaction { connection -> Bool in
            let changed = try await store.settle(pending, on: worker, failure: failure, on: connection, logger: logger)
            // Asked otherwise meanwhile (an unload while loading): the next pass does that.
            guard changed else { return false }
            let kind = failure != nil ? "model.load_failed" : (pending.unloading ? "model.unloaded" : "model.loaded")
            let payload: JSONValue = .object([
                "model_name": .string(pending.model), "worker": .string(worker), "gpu_id": .number(Double(pending.gpu)),
                "action": .string(pending.unloading ? "unload" : "load"), "message": failure.map(JSONValue.string) ?? .null,
            ])
            try await ChangeLog.record(
                Change(events: [
                    OutboxEvent(app: "simjobs", aggregateType: "model", aggregateID: pending.model, kind: kind, payloadJSON: payload.text)
                ]),
                by: .job(worker, kind: "worker"),
                on: connection,
                logger: logger
            )
            try await SystemLog.write(
                failure == nil ? "INFO" : "ERROR",
                .worker,
                failure.map { "Model \(pending.model) on \(worker) GPU \(pending.gpu): \($0)" }
                    ?? "Model \(pending.model) \(pending.unloading ? "unloaded from" : "loaded on") \(worker) GPU \(pending.gpu).",
                loggerName: "simjobs.models",
                extra: payload,
                on: connection,
                logger: logger
            )
            return true
        }
        if recorded, failure == nil { await slots.setModel(pending.model, loaded: !pending.unloading, on: pending.gpu) }
    }
}

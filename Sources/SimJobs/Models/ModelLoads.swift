public import Foundation
import Logging
import PostgresNIO
public import StrataCore
public import StrataPostgres

/// A model on a worker's GPU: loaded, or asked to be loaded or unloaded, or failed to load.
public struct ModelLoad: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable, CaseIterable {
        case loading, loaded, unloading, failed
    }

    public var modelName: String
    public var worker: String
    public var gpuID: Int
    public var state: State
    /// Why it failed.
    public var message: String?
    public var requestedBy: String?
    public var requestedAt: Date
    public var updatedAt: Date
    /// Whether its worker is online now (a load on an offline worker holds nothing).
    public var workerOnline: Bool

    enum CodingKeys: String, CodingKey {
        case worker, state, message
        case modelName = "model_name"
        case gpuID = "gpu_id"
        case requestedBy = "requested_by"
        case requestedAt = "requested_at"
        case updatedAt = "updated_at"
        case workerOnline = "worker_online"
    }
}

extension ModelCatalog {
    /// Where to load or unload: a worker and a GPU, each optional.
    public struct Placement: Sendable, Decodable {
        public var worker: String?
        public var gpuID: Int?

        public init(worker: String? = nil, gpuID: Int? = nil) {
            self.worker = worker
            self.gpuID = gpuID
        }

        enum CodingKeys: String, CodingKey {
            case worker
            case gpuID = "gpu_id"
        }
    }

    /// Asks a worker to load a model on one of its GPUs (the seed's `POST /models/{name}/load`).
    /// Without a worker, the online worker GPU holding the fewest models is chosen; without a
    /// GPU, the chosen worker's least used one. Asking again for a model that is loaded there
    /// changes nothing; a failed load is tried again.
    /// - Throws: `not_found`; `simjobs.model_disabled` / `simjobs.model_not_validated` (409);
    ///   `simjobs.no_worker_online` (409) when no online worker (or not the named one) has the
    ///   GPU; `validation_failed` for a negative GPU id.
    public func requestLoad(_ name: String, _ placement: Placement, by caller: Caller) async throws -> ModelLoad {
        if let gpu = placement.gpuID, !(0...1023).contains(gpu) {
            throw StrataError.validation([.init(field: "gpu_id", reason: "must be a GPU id, 0 to 1023")])
        }
        let (store, logger) = (store, logger)
        return try await pool.withTransaction { connection in
            guard let (enabled, unvalidated) = try await store.loadability(of: name, on: connection, logger: logger) else {
                throw Self.notFound(name)
            }
            if !enabled { throw StrataError(.modelDisabled, "The model '\(name)' is disabled; enable it before loading it.") }
            if unvalidated { throw StrataError(.modelNotValidated, "The custom model '\(name)' has not passed validation.") }
            guard let (worker, gpuID) = try await store.chooseGPU(for: name, placement, on: connection, logger: logger) else {
                throw StrataError(
                    .noWorkerOnline,
                    placement.worker == nil && placement.gpuID == nil
                        ? "No worker is online to load the model on."
                        : "No online worker matches (worker \(placement.worker ?? "any"), GPU \(placement.gpuID.map(String.init) ?? "any"))."
                )
            }
            let load = try await store.requestLoad(name, worker: worker, gpu: gpuID, by: caller.actor, on: connection, logger: logger)
            try await ChangeLog.record(loadChange([load], kind: "model.load_requested", action: "load"), by: caller, on: connection, logger: logger)
            return load
        }
    }

    /// Asks the workers holding a model to unload it (the seed's `POST /models/{name}/unload`):
    /// everywhere, or on the named worker and GPU. Failed loads are forgotten at once.
    /// - Returns: The loads now unloading.
    /// - Throws: `not_found`; `simjobs.model_not_loaded` (409) when nothing matches.
    public func requestUnload(_ name: String, _ placement: Placement, by caller: Caller) async throws -> [ModelLoad] {
        let (store, logger) = (store, logger)
        return try await pool.withTransaction { connection in
            guard try await store.exists(name, on: connection, logger: logger) else { throw Self.notFound(name) }
            let loads = try await store.requestUnload(name, placement, by: caller.actor, on: connection, logger: logger)
            guard !loads.isEmpty else { throw StrataError(.modelNotLoaded, "The model '\(name)' is not loaded there.") }
            try await ChangeLog.record(
                loadChange(loads, kind: "model.unload_requested", action: "unload"),
                by: caller,
                on: connection,
                logger: logger
            )
            return loads
        }
    }

    /// The loads, of one model or all (the seed's `GET /models/loaded/list`), by model, worker, GPU.
    public func loads(of name: String? = nil, state: ModelLoad.State? = nil) async throws -> [ModelLoad] {
        try await store.loads(of: name, state: state)
    }

    /// The change of load requests for one model: an event per load, one audit entry.
    private func loadChange(_ loads: [ModelLoad], kind: String, action: String) throws -> Change {
        Change(
            app: "simjobs",
            action: action,
            resourceType: "model",
            resourceID: loads.first?.modelName,
            status: 202,
            events: try loads.map { try OutboxEvent(app: "simjobs", aggregateType: "model", aggregateID: $0.modelName, kind: kind, payload: $0) }
        )
    }
}

extension StrataError.Code {
    /// A disabled model cannot be loaded (409).
    public static let modelDisabled = Self("simjobs.model_disabled", kind: .conflict)
    /// No online worker (or not the one named) can take the load (409).
    public static let noWorkerOnline = Self("simjobs.no_worker_online", kind: .conflict)
    /// An unload of a model that is not loaded there (409).
    public static let modelNotLoaded = Self("simjobs.model_not_loaded", kind: .conflict)
}

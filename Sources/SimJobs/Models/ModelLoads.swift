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
        let logger = self.logger
        return try await pool.withTransaction { connection in
            let model = try await connection.query(
                "SELECT is_enabled, is_custom AND NOT is_validated FROM simjobs.models WHERE name = \(name) FOR SHARE",
                logger: logger
            ).collect()
            guard let (enabled, unvalidated) = try model.first?.decode((Bool, Bool).self) else { throw Self.notFound(name) }
            if !enabled { throw StrataError(.modelDisabled, "The model '\(name)' is disabled; enable it before loading it.") }
            if unvalidated { throw StrataError(.modelNotValidated, "The custom model '\(name)' has not passed validation.") }
            let gpu = placement.gpuID.map(Int16.init)
            let chosen = try await connection.query(
                """
                SELECT w.name, g.gpu
                FROM simjobs.online_workers AS w CROSS JOIN LATERAL unnest(w.gpus) AS g(gpu)
                WHERE (\(placement.worker)::text IS NULL OR w.name = \(placement.worker))
                  AND (\(gpu)::smallint IS NULL OR g.gpu = \(gpu))
                ORDER BY EXISTS (SELECT 1 FROM simjobs.model_loads l
                                 WHERE l.model_name = \(name) AND l.worker_name = w.name AND l.gpu_id = g.gpu AND l.state <> 'failed') DESC,
                         (SELECT count(*) FROM simjobs.model_loads l WHERE l.worker_name = w.name AND l.gpu_id = g.gpu AND l.state <> 'failed'),
                         w.name, g.gpu
                LIMIT 1
                """,
                logger: logger
            ).collect()
            guard let (worker, gpuID) = try chosen.first?.decode((String, Int16).self) else {
                throw StrataError(
                    .noWorkerOnline,
                    placement.worker == nil && gpu == nil
                        ? "No worker is online to load the model on."
                        : "No online worker matches (worker \(placement.worker ?? "any"), GPU \(placement.gpuID.map(String.init) ?? "any"))."
                )
            }
            let rows = try await connection.query(
                """
                INSERT INTO simjobs.model_loads AS l (model_name, worker_name, gpu_id, state, requested_by)
                VALUES (\(name), \(worker), \(gpuID), 'loading', \(caller.actor))
                ON CONFLICT (model_name, worker_name, gpu_id) DO UPDATE
                SET state = CASE WHEN l.state = 'loaded' THEN 'loaded' ELSE 'loading' END, message = NULL,
                    requested_by = EXCLUDED.requested_by, requested_at = now()
                RETURNING \(unescaped: Self.loadColumns)
                """,
                logger: logger
            ).collect()
            let load = try Self.load(from: rows[0])
            try await ChangeLog.record(loadChange([load], kind: "model.load_requested", action: "load"), by: caller, on: connection, logger: logger)
            return load
        }
    }

    /// Asks the workers holding a model to unload it (the seed's `POST /models/{name}/unload`):
    /// everywhere, or on the named worker and GPU. Failed loads are forgotten at once.
    /// - Returns: The loads now unloading.
    /// - Throws: `not_found`; `simjobs.model_not_loaded` (409) when nothing matches.
    public func requestUnload(_ name: String, _ placement: Placement, by caller: Caller) async throws -> [ModelLoad] {
        let logger = self.logger
        let gpu = placement.gpuID.map(Int16.init)
        return try await pool.withTransaction { connection in
            let known = try await connection.query("SELECT 1 FROM simjobs.models WHERE name = \(name)", logger: logger).collect()
            if known.isEmpty { throw Self.notFound(name) }
            try await connection.query(
                """
                DELETE FROM simjobs.model_loads
                WHERE state = 'failed' AND model_name = \(name) AND (\(placement.worker)::text IS NULL OR worker_name = \(placement.worker))
                  AND (\(gpu)::smallint IS NULL OR gpu_id = \(gpu))
                """,
                logger: logger
            )
            let rows = try await connection.query(
                """
                UPDATE simjobs.model_loads AS l SET state = 'unloading', requested_by = \(caller.actor), requested_at = now()
                WHERE state IN ('loading', 'loaded', 'unloading') AND model_name = \(name)
                  AND (\(placement.worker)::text IS NULL OR worker_name = \(placement.worker)) AND (\(gpu)::smallint IS NULL OR gpu_id = \(gpu))
                RETURNING \(unescaped: Self.loadColumns)
                """,
                logger: logger
            ).collect()
            guard !rows.isEmpty else { throw StrataError(.modelNotLoaded, "The model '\(name)' is not loaded there.") }
            let loads = try rows.map(Self.load(from:))
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
        try await pool.query(
            """
            SELECT \(unescaped: Self.loadColumns) FROM simjobs.model_loads AS l
            WHERE (\(name)::text IS NULL OR l.model_name = \(name)) AND (\(state?.rawValue)::text IS NULL OR l.state = \(state?.rawValue))
            ORDER BY l.model_name, l.worker_name, l.gpu_id
            LIMIT 1000
            """
        ).map(Self.load(from:))
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

    static let loadColumns = """
        l.model_name, l.worker_name, l.gpu_id, l.state, l.message, l.requested_by, l.requested_at, l.updated_at,
        EXISTS (SELECT 1 FROM simjobs.online_workers w WHERE w.name = l.worker_name)
        """

    static func load(from row: PostgresRow) throws -> ModelLoad {
        let (model, worker, gpu, state, message, by, requested, updated, online) = try row.decode(
            (String, String, Int16, String, String?, String?, Date, Date, Bool).self
        )
        return ModelLoad(
            modelName: model,
            worker: worker,
            gpuID: Int(gpu),
            state: ModelLoad.State(rawValue: state) ?? .failed,
            message: message,
            requestedBy: by,
            requestedAt: requested,
            updatedAt: updated,
            workerOnline: online
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

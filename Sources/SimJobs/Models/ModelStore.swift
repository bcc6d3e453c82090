import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// The SQL of `simjobs.models` and `simjobs.model_loads`: plain reads on the pool, changes on the
/// connection of the catalog's transaction; rows decoded by column name.
struct ModelStore: Sendable {
    let pool: PostgresPool

    static let columns = """
        name, framework, description, version, config::text AS config, supported_elements, with_d3, is_builtin, is_custom,
        is_enabled, is_validated, validated_at, validation_message, is_loaded, loaded_gpu_id, created_at, updated_at
        """

    static func model(from row: PostgresRow) throws -> SimulationModel {
        let columns = row.makeRandomAccess()
        return SimulationModel(
            name: try columns["name"].decode(String.self),
            framework: try columns["framework"].decode(String.self),
            description: try columns["description"].decode(String?.self),
            version: try columns["version"].decode(String?.self),
            config: try JSONValue(parsing: try columns["config"].decode(String.self)),
            supportedElements: try columns["supported_elements"].decode([String].self),
            withD3: try columns["with_d3"].decode(Bool.self),
            isBuiltin: try columns["is_builtin"].decode(Bool.self),
            isCustom: try columns["is_custom"].decode(Bool.self),
            isEnabled: try columns["is_enabled"].decode(Bool.self),
            isValidated: try columns["is_validated"].decode(Bool.self),
            validatedAt: try columns["validated_at"].decode(Date?.self),
            validationMessage: try columns["validation_message"].decode(String?.self),
            isLoaded: try columns["is_loaded"].decode(Bool.self),
            loadedGPUID: try columns["loaded_gpu_id"].decode(Int16?.self).map(Int.init),
            createdAt: try columns["created_at"].decode(Date.self),
            updatedAt: try columns["updated_at"].decode(Date.self)
        )
    }

    static let loadColumns = """
        l.model_name, l.worker_name, l.gpu_id, l.state, l.message, l.requested_by, l.requested_at, l.updated_at,
        EXISTS (SELECT 1 FROM simjobs.online_workers w WHERE w.name = l.worker_name) AS worker_online
        """

    static func load(from row: PostgresRow) throws -> ModelLoad {
        let columns = row.makeRandomAccess()
        return ModelLoad(
            modelName: try columns["model_name"].decode(String.self),
            worker: try columns["worker_name"].decode(String.self),
            gpuID: Int(try columns["gpu_id"].decode(Int16.self)),
            state: ModelLoad.State(rawValue: try columns["state"].decode(String.self)) ?? .failed,
            message: try columns["message"].decode(String?.self),
            requestedBy: try columns["requested_by"].decode(String?.self),
            requestedAt: try columns["requested_at"].decode(Date.self),
            updatedAt: try columns["updated_at"].decode(Date.self),
            workerOnline: try columns["worker_online"].decode(Bool.self)
        )
    }

    // MARK: Models

    /// Every model, by name.
    func list() async throws -> [SimulationModel] {
        try await pool.query("SELECT \(unescaped: Self.columns) FROM simjobs.models ORDER BY name").map(Self.model(from:))
    }

    /// One model, or `nil`.
    func find(_ name: String) async throws -> SimulationModel? {
        try await pool.query("SELECT \(unescaped: Self.columns) FROM simjobs.models WHERE name = \(name)").first.map(Self.model(from:))
    }

    /// Inserts a custom model (not validated yet).
    func insert(_ registration: ModelCatalog.Registration, on connection: PostgresConnection, logger: Logger) async throws -> SimulationModel? {
        try await connection.run(
            """
            INSERT INTO simjobs.models (name, framework, description, version, config, supported_elements, with_d3, is_custom)
            VALUES (\(registration.name), \(registration.framework), \(registration.description), \(registration.version),
                    \(registration.config.map(\.text) ?? "{}")::jsonb, \(registration.supportedElements ?? []),
                    \(registration.withD3 ?? true), true)
            RETURNING \(unescaped: Self.columns)
            """,
            logger: logger
        ).collect().first.map(Self.model(from:))
    }

    /// Changes whether a model is enabled, its D3 default or its description; `nil` when there is no such model.
    func update(_ name: String, _ update: ModelCatalog.Update, on connection: PostgresConnection, logger: Logger) async throws -> SimulationModel? {
        try await connection.run(
            """
            UPDATE simjobs.models
            SET is_enabled = coalesce(\(update.isEnabled), is_enabled), with_d3 = coalesce(\(update.withD3), with_d3),
                description = coalesce(\(update.description), description)
            WHERE name = \(name)
            RETURNING \(unescaped: Self.columns)
            """,
            logger: logger
        ).collect().first.map(Self.model(from:))
    }

    /// Records a validation's outcome; `nil` when there is no such model.
    func recordValidation(
        _ name: String,
        _ validation: ModelCatalog.Validation,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws
        -> SimulationModel?
    {
        try await connection.run(
            """
            UPDATE simjobs.models
            SET is_validated = \(validation.valid), validated_at = now(), validation_message = \(validation.message)
            WHERE name = \(name)
            RETURNING \(unescaped: Self.columns)
            """,
            logger: logger
        ).collect().first.map(Self.model(from:))
    }

    /// Locks a model for deletion: whether it is built in and whether tasks use it, `nil` when
    /// there is no such model.
    func lockForDeletion(_ name: String, on connection: PostgresConnection, logger: Logger) async throws -> (builtin: Bool, used: Bool)? {
        let rows = try await connection.run(
            """
            SELECT is_builtin, EXISTS (SELECT 1 FROM simjobs.tasks WHERE model_name = \(name)) AS used
            FROM simjobs.models WHERE name = \(name) FOR UPDATE
            """,
            logger: logger
        ).collect()
        guard let columns = rows.first?.makeRandomAccess() else { return nil }
        return (try columns["is_builtin"].decode(Bool.self), try columns["used"].decode(Bool.self))
    }

    /// Deletes a model.
    func delete(_ name: String, on connection: PostgresConnection, logger: Logger) async throws -> SimulationModel? {
        try await connection.run("DELETE FROM simjobs.models WHERE name = \(name) RETURNING \(unescaped: Self.columns)", logger: logger)
            .collect().first.map(Self.model(from:))
    }

    // MARK: Loads

    /// Whether a model may be loaded (held against deletion until the transaction ends):
    /// enabled, and validated when custom; `nil` when there is no such model.
    func loadability(of name: String, on connection: PostgresConnection, logger: Logger) async throws -> (enabled: Bool, unvalidated: Bool)? {
        let rows = try await connection.run(
            "SELECT is_enabled, is_custom AND NOT is_validated AS unvalidated FROM simjobs.models WHERE name = \(name) FOR SHARE",
            logger: logger
        ).collect()
        guard let columns = rows.first?.makeRandomAccess() else { return nil }
        return (try columns["is_enabled"].decode(Bool.self), try columns["unvalidated"].decode(Bool.self))
    }

    /// The online worker GPU to load a model on: one that holds it already, else the one
    /// holding the fewest models, within the placement; `nil` when none matches.
    func chooseGPU(
        for name: String,
        _ placement: ModelCatalog.Placement,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws
        -> (worker: String, gpu: Int16)?
    {
        let gpu = placement.gpuID.map(Int16.init)
        let rows = try await connection.run(
            """
            SELECT w.name AS worker, g.gpu
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
        guard let columns = rows.first?.makeRandomAccess() else { return nil }
        return (try columns["worker"].decode(String.self), try columns["gpu"].decode(Int16.self))
    }

    /// Asks for a load (a loaded model stays loaded; a failed one is tried again).
    func requestLoad(
        _ name: String,
        worker: String,
        gpu: Int16,
        by actor: String,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws
        -> ModelLoad
    {
        let rows = try await connection.run(
            """
            INSERT INTO simjobs.model_loads AS l (model_name, worker_name, gpu_id, state, requested_by)
            VALUES (\(name), \(worker), \(gpu), 'loading', \(actor))
            ON CONFLICT (model_name, worker_name, gpu_id) DO UPDATE
            SET state = CASE WHEN l.state = 'loaded' THEN 'loaded' ELSE 'loading' END, message = NULL,
                requested_by = EXCLUDED.requested_by, requested_at = now()
            RETURNING \(unescaped: Self.loadColumns)
            """,
            logger: logger
        ).collect()
        return try Self.load(from: rows[0])
    }

    /// Whether a model exists.
    func exists(_ name: String, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await !connection.run("SELECT 1 FROM simjobs.models WHERE name = \(name)", logger: logger).collect().isEmpty
    }

    /// Asks for unloads within the placement, forgetting failed loads there at once.
    /// - Returns: The loads now unloading.
    func requestUnload(
        _ name: String,
        _ placement: ModelCatalog.Placement,
        by actor: String,
        on connection: PostgresConnection,
        logger: Logger
    )
        async throws -> [ModelLoad]
    {
        let gpu = placement.gpuID.map(Int16.init)
        try await connection.run(
            """
            DELETE FROM simjobs.model_loads
            WHERE state = 'failed' AND model_name = \(name) AND (\(placement.worker)::text IS NULL OR worker_name = \(placement.worker))
              AND (\(gpu)::smallint IS NULL OR gpu_id = \(gpu))
            """,
            logger: logger
        )
        return try await connection.run(
            """
            UPDATE simjobs.model_loads AS l SET state = 'unloading', requested_by = \(actor), requested_at = now()
            WHERE state IN ('loading', 'loaded', 'unloading') AND model_name = \(name)
              AND (\(placement.worker)::text IS NULL OR worker_name = \(placement.worker)) AND (\(gpu)::smallint IS NULL OR gpu_id = \(gpu))
            RETURNING \(unescaped: Self.loadColumns)
            """,
            logger: logger
        ).collect().map(Self.load(from:))
    }

    /// The loads, of one model or all, by model, worker, GPU.
    func loads(of name: String?, state: ModelLoad.State?) async throws -> [ModelLoad] {
        try await pool.query(
            """
            SELECT \(unescaped: Self.loadColumns) FROM simjobs.model_loads AS l
            WHERE (\(name)::text IS NULL OR l.model_name = \(name)) AND (\(state?.rawValue)::text IS NULL OR l.state = \(state?.rawValue))
            ORDER BY l.model_name, l.worker_name, l.gpu_id
            LIMIT 1000
            """
        ).map(Self.load(from:))
    }

    // MARK: A worker's loads

    /// A new worker process holds no model: the loads it held are asked for again, its unloads are done.
    func forgetHeldModels(of worker: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.run(
            "UPDATE simjobs.model_loads SET state = 'loading', message = NULL WHERE worker_name = \(worker) AND state = 'loaded'",
            logger: logger
        )
        try await connection.run("DELETE FROM simjobs.model_loads WHERE worker_name = \(worker) AND state = 'unloading'", logger: logger)
    }

    /// The oldest load or unload waiting for `worker`, with the model's document for its command.
    func nextPending(for worker: String) async throws -> ModelLoader.Pending? {
        let rows = try await pool.query(
            """
            SELECT l.model_name, l.gpu_id, l.state = 'unloading' AS unloading,
                   json_build_object('name', m.name, 'framework', m.framework, 'version', m.version, 'config', m.config,
                                     'with_d3', m.with_d3)::text AS document
            FROM simjobs.model_loads AS l JOIN simjobs.models AS m ON m.name = l.model_name
            WHERE l.worker_name = \(worker) AND l.state IN ('loading', 'unloading')
            ORDER BY l.updated_at, l.model_name, l.gpu_id
            LIMIT 1
            """
        )
        guard let columns = rows.first?.makeRandomAccess() else { return nil }
        return ModelLoader.Pending(
            model: try columns["model_name"].decode(String.self),
            gpu: Int(try columns["gpu_id"].decode(Int16.self)),
            unloading: try columns["unloading"].decode(Bool.self),
            document: try columns["document"].decode(String.self)
        )
    }

    /// Records how a load or unload ended: an unload that worked removes the load, a failed
    /// unload leaves the model loaded as far as anyone can tell, a failed load is kept failed.
    /// - Returns: `false` when the load was asked otherwise meanwhile (nothing changed).
    func settle(
        _ pending: ModelLoader.Pending,
        on worker: String,
        failure: String?,
        on connection: PostgresConnection,
        logger: Logger
    )
        async throws -> Bool
    {
        let wanted = pending.unloading ? "unloading" : "loading"
        if pending.unloading && failure == nil {
            return try await !connection.run(
                """
                DELETE FROM simjobs.model_loads
                WHERE model_name = \(pending.model) AND worker_name = \(worker) AND gpu_id = \(Int16(pending.gpu)) AND state = \(wanted)
                RETURNING 1
                """,
                logger: logger
            ).collect().isEmpty
        }
        let state = failure == nil ? "loaded" : (pending.unloading ? "loaded" : "failed")
        return try await !connection.run(
            """
            UPDATE simjobs.model_loads SET state = \(state), message = \(failure)
            WHERE model_name = \(pending.model) AND worker_name = \(worker) AND gpu_id = \(Int16(pending.gpu)) AND state = \(wanted)
            RETURNING 1
            """,
            logger: logger
        ).collect().isEmpty
    }
}

public import Foundation
import Logging
import PostgresNIO
public import StrataCore
public import StrataPostgres

/// A machine-learned potential the workers can run: built in, or registered as custom.
public struct SimulationModel: Sendable, Codable, Equatable {
    public var name: String
    public var framework: String
    public var description: String?
    public var version: String?
    public var config: JSONValue
    public var supportedElements: [String]
    /// Whether the D3 dispersion correction is added (on by default).
    public var withD3: Bool
    public var isBuiltin: Bool
    public var isCustom: Bool
    public var isEnabled: Bool
    /// A custom model runs only once validated.
    public var isValidated: Bool
    public var validatedAt: Date?
    public var validationMessage: String?
    public var isLoaded: Bool
    public var loadedGPUID: Int?
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case name, framework, description, version, config
        case supportedElements = "supported_elements"
        case withD3 = "with_d3"
        case isBuiltin = "is_builtin"
        case isCustom = "is_custom"
        case isEnabled = "is_enabled"
        case isValidated = "is_validated"
        case validatedAt = "validated_at"
        case validationMessage = "validation_message"
        case isLoaded = "is_loaded"
        case loadedGPUID = "loaded_gpu_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

/// `simjobs.models`: the registry. Built-in models come with the schema; custom ones are
/// registered, then validated (by whoever checked the checkpoint: an operator or a job) before
/// tasks may use them. Every change commits with its audit entry and outbox event
/// (`model.registered`, `model.updated`, `model.validated`, `model.deleted`).
public struct ModelCatalog: Sendable {
    let pool: PostgresPool
    let logger: Logger

    public init(pool: PostgresPool) {
        self.pool = pool
        self.logger = pool.statementLogger
    }

    /// A custom model to register.
    public struct Registration: Sendable, Decodable {
        public var name: String
        public var framework: String
        public var description: String?
        public var version: String?
        public var config: JSONValue?
        public var supportedElements: [String]?
        public var withD3: Bool?

        enum CodingKeys: String, CodingKey {
            case name, framework, description, version, config
            case supportedElements = "supported_elements"
            case withD3 = "with_d3"
        }

        public init(name: String, framework: String, description: String? = nil, config: JSONValue? = nil, withD3: Bool? = nil) {
            self.name = name
            self.framework = framework
            self.description = description
            self.config = config
            self.withD3 = withD3
        }

        func validate() throws {
            var errors: [StrataError.FieldError] = []
            if name.range(of: #"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"#, options: .regularExpression) == nil {
                errors.append(.init(field: "name", reason: "must be 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit"))
            }
            if framework.range(of: #"^[a-z0-9_-]{1,50}$"#, options: .regularExpression) == nil {
                errors.append(.init(field: "framework", reason: "must be 1 to 50 lower-case letters, digits, '_' or '-' (mace, orb, sevennet, …)"))
            }
            if let description, description.textLength > 2000 {
                errors.append(.init(field: "description", reason: "must be at most 2000 characters"))
            }
            if let version, version.isEmpty || version.textLength > 50 {
                errors.append(.init(field: "version", reason: "must be 1 to 50 characters"))
            }
            if let config, config.objectValue == nil { errors.append(.init(field: "config", reason: "must be an object")) }
            if let elements = supportedElements,
                elements.count > 200 || !elements.allSatisfy({ $0.range(of: #"^[A-Z][a-z]{0,2}$"#, options: .regularExpression) != nil })
            {
                errors.append(.init(field: "supported_elements", reason: "must be element symbols such as H, C, Zn (at most 200)"))
            }
            guard errors.isEmpty else { throw StrataError.validation(errors) }
        }
    }

    /// What an update may change.
    public struct Update: Sendable, Decodable {
        public var isEnabled: Bool?
        public var withD3: Bool?
        public var description: String?

        enum CodingKeys: String, CodingKey {
            case description
            case isEnabled = "is_enabled"
            case withD3 = "with_d3"
        }
    }

    /// The outcome of a validation.
    public struct Validation: Sendable, Decodable {
        public var valid: Bool
        public var message: String?

        public init(valid: Bool, message: String? = nil) {
            self.valid = valid
            self.message = message
        }
    }

    /// Every model, by name.
    public func list() async throws -> [SimulationModel] {
        try await pool.query("SELECT \(unescaped: Self.columns) FROM simjobs.models ORDER BY name").map(Self.model(from:))
    }

    /// One model.
    /// - Throws: `not_found`.
    public func model(_ name: String) async throws -> SimulationModel {
        guard let row = try await pool.query("SELECT \(unescaped: Self.columns) FROM simjobs.models WHERE name = \(name)").first else {
            throw Self.notFound(name)
        }
        return try Self.model(from: row)
    }

    /// Registers a custom model (not validated yet).
    /// - Throws: `validation_failed`; `conflict` when the name is taken.
    public func register(_ registration: Registration, by caller: Caller) async throws -> SimulationModel {
        try registration.validate()
        let config = registration.config.map(\.text) ?? "{}"
        return try await changeModel("model.registered", action: "register", name: registration.name, status: 201, by: caller) {
            connection in
            try await connection.query(
                """
                INSERT INTO simjobs.models (name, framework, description, version, config, supported_elements, with_d3, is_custom)
                VALUES (\(registration.name), \(registration.framework), \(registration.description), \(registration.version),
                        \(config)::jsonb, \(registration.supportedElements ?? []), \(registration.withD3 ?? true), true)
                RETURNING \(unescaped: Self.columns)
                """,
                logger: logger
            ).collect()
        }
    }

    /// Changes whether a model is enabled, its D3 default or its description.
    public func update(_ name: String, _ update: Update, by caller: Caller) async throws -> SimulationModel {
        if let description = update.description, description.textLength > 2000 {
            throw StrataError.validation([.init(field: "description", reason: "must be at most 2000 characters")])
        }
        return try await changeModel("model.updated", action: "update", name: name, status: 200, by: caller) { connection in
            try await connection.query(
                """
                UPDATE simjobs.models
                SET is_enabled = coalesce(\(update.isEnabled), is_enabled), with_d3 = coalesce(\(update.withD3), with_d3),
                    description = coalesce(\(update.description), description)
                WHERE name = \(name)
                RETURNING \(unescaped: Self.columns)
                """,
                logger: logger
            ).collect()
        }
    }

    /// Records whether a custom model passed validation.
    public func recordValidation(_ name: String, _ validation: Validation, by caller: Caller) async throws -> SimulationModel {
        if let message = validation.message, message.textLength > 2000 {
            throw StrataError.validation([.init(field: "message", reason: "must be at most 2000 characters")])
        }
        return try await changeModel("model.validated", action: "validate", name: name, status: 200, by: caller) { connection in
            try await connection.query(
                """
                UPDATE simjobs.models
                SET is_validated = \(validation.valid), validated_at = now(), validation_message = \(validation.message)
                WHERE name = \(name)
                RETURNING \(unescaped: Self.columns)
                """,
                logger: logger
            ).collect()
        }
    }

    /// Deletes a custom model no task uses.
    /// - Throws: `not_found`; `simjobs.model_in_use` (409) for built-in models and models tasks reference.
    public func delete(_ name: String, by caller: Caller) async throws {
        _ = try await changeModel("model.deleted", action: "delete", name: name, status: 204, by: caller) { connection in
            let current = try await connection.query(
                "SELECT is_builtin, EXISTS (SELECT 1 FROM simjobs.tasks WHERE model_name = \(name)) FROM simjobs.models WHERE name = \(name) FOR UPDATE",
                logger: logger
            ).collect()
            guard let (builtin, used) = try current.first?.decode((Bool, Bool).self) else { return [] }
            if builtin { throw StrataError(.modelInUse, "Built-in models are kept; disable it instead.") }
            if used { throw StrataError(.modelInUse, "Tasks use this model; disable it instead of deleting it.") }
            return try await connection.query(
                "DELETE FROM simjobs.models WHERE name = \(name) RETURNING \(unescaped: Self.columns)",
                logger: logger
            ).collect()
        }
    }

    /// Runs one change of a model in a transaction and records it (its event, with the model
    /// as payload, and its audit entry); no row → `not_found`.
    private func changeModel(
        _ kind: String,
        action: String,
        name: String,
        status: Int,
        by caller: Caller,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> [PostgresRow]
    ) async throws -> SimulationModel {
        try await pool.withTransaction { connection in
            guard let row = try await body(connection).first else { throw Self.notFound(name) }
            let model = try Self.model(from: row)
            let change = Change(
                app: "simjobs",
                action: action,
                resourceType: "model",
                resourceID: model.name,
                status: status,
                events: [try OutboxEvent(app: "simjobs", aggregateType: "model", aggregateID: model.name, kind: kind, payload: model)]
            )
            try await ChangeLog.record(change, by: caller, on: connection, logger: logger)
            return model
        }
    }

    static let columns = """
        name, framework, description, version, config::text, supported_elements, with_d3, is_builtin, is_custom, is_enabled,
        is_validated, validated_at, validation_message, is_loaded, loaded_gpu_id, created_at, updated_at
        """

    static func model(from row: PostgresRow) throws -> SimulationModel {
        let columns = row.makeRandomAccess()
        return SimulationModel(
            name: try columns[0].decode(String.self),
            framework: try columns[1].decode(String.self),
            description: try columns[2].decode(String?.self),
            version: try columns[3].decode(String?.self),
            config: try JSONValue(parsing: try columns[4].decode(String.self)),
            supportedElements: try columns[5].decode([String].self),
            withD3: try columns[6].decode(Bool.self),
            isBuiltin: try columns[7].decode(Bool.self),
            isCustom: try columns[8].decode(Bool.self),
            isEnabled: try columns[9].decode(Bool.self),
            isValidated: try columns[10].decode(Bool.self),
            validatedAt: try columns[11].decode(Date?.self),
            validationMessage: try columns[12].decode(String?.self),
            isLoaded: try columns[13].decode(Bool.self),
            loadedGPUID: try columns[14].decode(Int16?.self).map(Int.init),
            createdAt: try columns[15].decode(Date.self),
            updatedAt: try columns[16].decode(Date.self)
        )
    }

    static func notFound(_ name: String) -> StrataError {
        StrataError(.notFound, "No model is named '\(name.prefix(100))'.")
    }
}

extension StrataError.Code {
    /// A custom model that has not been validated cannot run tasks (409).
    public static let modelNotValidated = Self("simjobs.model_not_validated", kind: .conflict)
    /// A built-in model, or one tasks use, cannot be deleted (409).
    public static let modelInUse = Self("simjobs.model_in_use", kind: .conflict)
}

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
    let store: ModelStore
    let logger: Logger

    public init(pool: PostgresPool) {
        self.pool = pool
        self.store = ModelStore(pool: pool)
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
        try await store.list()
    }

    /// One model.
    /// - Throws: `not_found`.
    public func model(_ name: String) async throws -> SimulationModel {
        guard let model = try await store.find(name) else { throw Self.notFound(name) }
        return model
    }

    /// Registers a custom model (not validated yet).
    /// - Throws: `validation_failed`; `conflict` when the name is taken.
    public func register(_ registration: Registration, by caller: Caller) async throws -> SimulationModel {
        try registration.validate()
        let (store, logger) = (store, logger)
        return try await changeModel("model.registered", action: "register", name: registration.name, status: 201, by: caller) { connection in
            try await store.insert(registration, on: connection, logger: logger)
        }
    }

    /// Changes whether a model is enabled, its D3 default or its description.
    public func update(_ name: String, _ update: Update, by caller: Caller) async throws -> SimulationModel {
        if let description = update.description, description.textLength > 2000 {
            throw StrataError.validation([.init(field: "description", reason: "must be at most 2000 characters")])
        }
        let (store, logger) = (store, logger)
        return try await changeModel("model.updated", action: "update", name: name, status: 200, by: caller) { connection in
            try await store.update(name, update, on: connection, logger: logger)
        }
    }

    /// Records whether a custom model passed validation.
    public func recordValidation(_ name: String, _ validation: Validation, by caller: Caller) async throws -> SimulationModel {
        if let message = validation.message, message.textLength > 2000 {
            throw StrataError.validation([.init(field: "message", reason: "must be at most 2000 characters")])
        }
        let (store, logger) = (store, logger)
        return try await changeModel("model.validated", action: "validate", name: name, status: 200, by: caller) { connection in
            try await store.recordValidation(name, validation, on: connection, logger: logger)
        }
    }

    /// Deletes a custom model no task uses.
    /// - Throws: `not_found`; `simjobs.model_in_use` (409) for built-in models and models tasks reference.
    public func delete(_ name: String, by caller: Caller) async throws {
        let (store, logger) = (store, logger)
        _ = try await changeModel("model.deleted", action: "delete", name: name, status: 204, by: caller) { connection in
            guard let (builtin, used) = try await store.lockForDeletion(name, on: connection, logger: logger) else { return nil }
            if builtin { throw StrataError(.modelInUse, "Built-in models are kept; disable it instead.") }
            if used { throw StrataError(.modelInUse, "Tasks use this model; disable it instead of deleting it.") }
            return try await store.delete(name, on: connection, logger: logger)
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
        _ body: @escaping @Sendable (PostgresConnection) async throws -> SimulationModel?
    ) async throws -> SimulationModel {
        try await pool.withTransaction { connection in
            guard let model = try await body(connection) else { throw Self.notFound(name) }
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

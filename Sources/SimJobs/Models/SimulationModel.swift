import Foundation
import Logging
import PostgresNIO
import StrataPostgres

/// A machine-learned potential the workers can run.
public struct SimulationModel: Sendable, Codable, Equatable {
    public var name: String
    public var framework: String
    public var description: String?
    public var version: String?
    public var withD3: Bool
    public var isBuiltin: Bool
    public var isCustom: Bool
    public var isEnabled: Bool
    public var isValidated: Bool
    public var isLoaded: Bool
    public var loadedGPUID: Int?

    enum CodingKeys: String, CodingKey {
        case name, framework, description, version
        case withD3 = "with_d3"
        case isBuiltin = "is_builtin"
        case isCustom = "is_custom"
        case isEnabled = "is_enabled"
        case isValidated = "is_validated"
        case isLoaded = "is_loaded"
        case loadedGPUID = "loaded_gpu_id"
    }
}

/// `simjobs.models`.
struct ModelCatalog: Sendable {
    let pool: PostgresPool

    /// Every model, by name.
    func list() async throws -> [SimulationModel] {
        let rows = try await pool.query(
            """
            SELECT name, framework, description, version, with_d3, is_builtin, is_custom, is_enabled, is_validated, is_loaded, loaded_gpu_id
            FROM simjobs.models ORDER BY name
            """
        )
        return try rows.map { row in
            let (name, framework, description, version, d3, builtin, custom, enabled, validated, loaded, gpu) = try row.decode(
                (String, String, String?, String?, Bool, Bool, Bool, Bool, Bool, Bool, Int16?).self
            )
            return SimulationModel(
                name: name,
                framework: framework,
                description: description,
                version: version,
                withD3: d3,
                isBuiltin: builtin,
                isCustom: custom,
                isEnabled: enabled,
                isValidated: validated,
                isLoaded: loaded,
                loadedGPUID: gpu.map(Int.init)
            )
        }
    }
}

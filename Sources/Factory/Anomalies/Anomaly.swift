public import Foundation
import PostgresNIO
public import StrataCore

/// An anomaly detected on a line (at a station), from detection to its verified fix
/// (`factory.anomalies`).
public struct Anomaly: Sendable, Codable, Equatable {
    public var anomalyID: UUID
    public var factoryID: String
    public var lineID: String
    public var stationID: String?
    public var defectType: String
    public var severity: Severity
    public var description: String?
    public var detectedAt: Date
    public var status: AnomalyStatus
    public var assignedTo: String?
    public var rootCause: String?
    public var reopenCount: Int
    public var version: Int64
    public var createdBy: String
    public var createdAt: Date
    public var updatedAt: Date
    public var closedAt: Date?

    enum CodingKeys: String, CodingKey {
        case severity, description, status, version
        case anomalyID = "anomaly_id"
        case factoryID = "factory_id"
        case lineID = "line_id"
        case stationID = "station_id"
        case defectType = "defect_type"
        case detectedAt = "detected_at"
        case assignedTo = "assigned_to"
        case rootCause = "root_cause"
        case reopenCount = "reopen_count"
        case createdBy = "created_by"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case closedAt = "closed_at"
    }

    static let columns = """
        anomaly_id, factory_id, line_id, station_id, defect_type, severity, description, detected_at, status, assigned_to,
        root_cause, reopen_count, version, created_by, created_at, updated_at, closed_at
        """

    init(row: PostgresRow) throws {
        let columns = row.makeRandomAccess()
        anomalyID = try columns["anomaly_id"].decode(UUID.self)
        factoryID = try columns["factory_id"].decode(String.self)
        lineID = try columns["line_id"].decode(String.self)
        stationID = try columns["station_id"].decode(String?.self)
        defectType = try columns["defect_type"].decode(String.self)
        guard let severity = Severity(rawValue: try columns["severity"].decode(String.self)),
            let status = AnomalyStatus(rawValue: try columns["status"].decode(String.self))
        else { throw StrataError(.internalError, "An anomaly row holds an unknown severity or status.") }
        self.severity = severity
        self.status = status
        description = try columns["description"].decode(String?.self)
        detectedAt = try columns["detected_at"].decode(Date.self)
        assignedTo = try columns["assigned_to"].decode(String?.self)
        rootCause = try columns["root_cause"].decode(String?.self)
        reopenCount = Int(try columns["reopen_count"].decode(Int32.self))
        version = try columns["version"].decode(Int64.self)
        createdBy = try columns["created_by"].decode(String.self)
        createdAt = try columns["created_at"].decode(Date.self)
        updatedAt = try columns["updated_at"].decode(Date.self)
        closedAt = try columns["closed_at"].decode(Date?.self)
    }
}

/// A candidate fix of an anomaly with its decision metrics (`factory.solutions`).
public struct Solution: Sendable, Codable, Equatable {
    /// What kind of fix it is.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case repair, adjustment, replacement
        case processChange = "process_change"
        case workaround
    }

    public var solutionID: UUID
    public var anomalyID: UUID
    public var factoryID: String
    public var lineID: String
    public var solutionType: Kind
    public var solutionName: String
    public var description: String?
    public var estimatedDowntimeHours: Double?
    public var successRate: Double?
    public var expectedLoss: Double?
    public var roi: Double?
    public var simulationResult: JSONValue?
    public var recommended: Bool
    public var adopted: Bool
    public var version: Int64
    public var createdBy: String
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case description, roi, recommended, adopted, version
        case solutionID = "solution_id"
        case anomalyID = "anomaly_id"
        case factoryID = "factory_id"
        case lineID = "line_id"
        case solutionType = "solution_type"
        case solutionName = "solution_name"
        case estimatedDowntimeHours = "estimated_downtime_hours"
        case successRate = "success_rate"
        case expectedLoss = "expected_loss"
        case simulationResult = "simulation_result"
        case createdBy = "created_by"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    static let columns = """
        solution_id, anomaly_id, factory_id, line_id, solution_type, solution_name, description,
        estimated_downtime_hours::float8 AS estimated_downtime_hours, success_rate::float8 AS success_rate,
        expected_loss::float8 AS expected_loss, roi::float8 AS roi, simulation_result::text AS simulation_result,
        recommended, adopted, version, created_by, created_at, updated_at
        """

    init(row: PostgresRow) throws {
        let columns = row.makeRandomAccess()
        solutionID = try columns["solution_id"].decode(UUID.self)
        anomalyID = try columns["anomaly_id"].decode(UUID.self)
        factoryID = try columns["factory_id"].decode(String.self)
        lineID = try columns["line_id"].decode(String.self)
        guard let kind = Kind(rawValue: try columns["solution_type"].decode(String.self)) else {
            throw StrataError(.internalError, "A solution row holds an unknown type.")
        }
        solutionType = kind
        solutionName = try columns["solution_name"].decode(String.self)
        description = try columns["description"].decode(String?.self)
        estimatedDowntimeHours = try columns["estimated_downtime_hours"].decode(Double?.self)
        successRate = try columns["success_rate"].decode(Double?.self)
        expectedLoss = try columns["expected_loss"].decode(Double?.self)
        roi = try columns["roi"].decode(Double?.self)
        simulationResult = try columns.json("simulation_result")
        recommended = try columns["recommended"].decode(Bool.self)
        adopted = try columns["adopted"].decode(Bool.self)
        version = try columns["version"].decode(Int64.self)
        createdBy = try columns["created_by"].decode(String.self)
        createdAt = try columns["created_at"].decode(Date.self)
        updatedAt = try columns["updated_at"].decode(Date.self)
    }
}

/// An execution work order carrying out an adopted solution (`factory.work_orders`).
public struct WorkOrder: Sendable, Codable, Equatable {
    /// What the work is.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case repair, maintenance, inspection, adjustment, replacement
    }

    /// How the work went.
    public enum Result: String, Sendable, Codable, CaseIterable {
        case success, partial, failure
    }

    public var orderID: UUID
    public var solutionID: UUID
    public var anomalyID: UUID
    public var factoryID: String
    public var lineID: String
    public var orderType: Kind
    public var responsibleUserID: String?
    public var instructions: String?
    public var estimatedDurationHours: Double?
    public var actualDurationHours: Double?
    public var status: WorkOrderStatus
    public var executionResult: Result?
    public var resultVerified: Bool
    public var actualLoss: Double?
    public var notes: String?
    public var version: Int64
    public var createdBy: String
    public var createdAt: Date
    public var updatedAt: Date
    public var startedAt: Date?
    public var completedAt: Date?

    enum CodingKeys: String, CodingKey {
        case instructions, status, notes, version
        case orderID = "order_id"
        case solutionID = "solution_id"
        case anomalyID = "anomaly_id"
        case factoryID = "factory_id"
        case lineID = "line_id"
        case orderType = "order_type"
        case responsibleUserID = "responsible_user_id"
        case estimatedDurationHours = "estimated_duration_hours"
        case actualDurationHours = "actual_duration_hours"
        case executionResult = "execution_result"
        case resultVerified = "result_verified"
        case actualLoss = "actual_loss"
        case createdBy = "created_by"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case startedAt = "started_at"
        case completedAt = "completed_at"
    }

    static let columns = """
        order_id, solution_id, anomaly_id, factory_id, line_id, order_type, responsible_user_id, instructions,
        estimated_duration_hours::float8 AS estimated_duration_hours, actual_duration_hours::float8 AS actual_duration_hours,
        status, execution_result, result_verified, actual_loss::float8 AS actual_loss, notes, version, created_by, created_at,
        updated_at, started_at, completed_at
        """

    init(row: PostgresRow) throws {
        let columns = row.makeRandomAccess()
        orderID = try columns["order_id"].decode(UUID.self)
        solutionID = try columns["solution_id"].decode(UUID.self)
        anomalyID = try columns["anomaly_id"].decode(UUID.self)
        factoryID = try columns["factory_id"].decode(String.self)
        lineID = try columns["line_id"].decode(String.self)
        guard let kind = Kind(rawValue: try columns["order_type"].decode(String.self)),
            let status = WorkOrderStatus(rawValue: try columns["status"].decode(String.self))
        else { throw StrataError(.internalError, "A work order row holds an unknown type or status.") }
        orderType = kind
        self.status = status
        responsibleUserID = try columns["responsible_user_id"].decode(String?.self)
        instructions = try columns["instructions"].decode(String?.self)
        estimatedDurationHours = try columns["estimated_duration_hours"].decode(Double?.self)
        actualDurationHours = try columns["actual_duration_hours"].decode(Double?.self)
        executionResult = try columns["execution_result"].decode(String?.self).flatMap(Result.init(rawValue:))
        resultVerified = try columns["result_verified"].decode(Bool.self)
        actualLoss = try columns["actual_loss"].decode(Double?.self)
        notes = try columns["notes"].decode(String?.self)
        version = try columns["version"].decode(Int64.self)
        createdBy = try columns["created_by"].decode(String.self)
        createdAt = try columns["created_at"].decode(Date.self)
        updatedAt = try columns["updated_at"].decode(Date.self)
        startedAt = try columns["started_at"].decode(Date?.self)
        completedAt = try columns["completed_at"].decode(Date?.self)
    }
}

public import Foundation
import PostgresNIO
public import StrataCore

/// A case of the library: a closed anomaly written up to be reused — the problem, the
/// diagnosis, the adopted solution, its expected and actual effect, the lessons, and tags
/// (`factory.case_library`).
public struct CaseEntry: Sendable, Codable, Equatable {
    public var caseID: UUID
    public var anomalyID: UUID?
    public var factoryID: String
    public var lineID: String
    public var problemDescription: String
    public var diagnosisResult: JSONValue?
    public var solutionID: UUID?
    public var expectedEffect: JSONValue?
    public var actualEffect: JSONValue?
    public var lessonsLearned: String?
    public var tags: [String]
    public var version: Int64
    public var createdBy: String
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case tags, version
        case caseID = "case_id"
        case anomalyID = "anomaly_id"
        case factoryID = "factory_id"
        case lineID = "line_id"
        case problemDescription = "problem_description"
        case diagnosisResult = "diagnosis_result"
        case solutionID = "solution_id"
        case expectedEffect = "expected_effect"
        case actualEffect = "actual_effect"
        case lessonsLearned = "lessons_learned"
        case createdBy = "created_by"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    static let columns = """
        case_id, anomaly_id, factory_id, line_id, problem_description, diagnosis_result::text AS diagnosis_result, solution_id,
        expected_effect::text AS expected_effect, actual_effect::text AS actual_effect, lessons_learned, tags, version, created_by,
        created_at, updated_at
        """

    init(row: PostgresRow) throws {
        let columns = row.makeRandomAccess()
        caseID = try columns["case_id"].decode(UUID.self)
        anomalyID = try columns["anomaly_id"].decode(UUID?.self)
        factoryID = try columns["factory_id"].decode(String.self)
        lineID = try columns["line_id"].decode(String.self)
        problemDescription = try columns["problem_description"].decode(String.self)
        diagnosisResult = try columns.json("diagnosis_result")
        solutionID = try columns["solution_id"].decode(UUID?.self)
        expectedEffect = try columns.json("expected_effect")
        actualEffect = try columns.json("actual_effect")
        lessonsLearned = try columns["lessons_learned"].decode(String?.self)
        tags = try columns["tags"].decode([String].self)
        version = try columns["version"].decode(Int64.self)
        createdBy = try columns["created_by"].decode(String.self)
        createdAt = try columns["created_at"].decode(Date.self)
        updatedAt = try columns["updated_at"].decode(Date.self)
    }
}

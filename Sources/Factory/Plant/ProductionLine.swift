public import Foundation
import PostgresNIO
import StrataCore

/// A production line of a factory (`factory.production_lines`).
public struct ProductionLine: Sendable, Codable, Equatable {
    /// A line's state (the seed's default is `active`).
    public enum Status: String, Sendable, Codable, CaseIterable {
        case active, maintenance, stopped, retired
    }

    public var lineID: String
    public var lineName: String
    public var factoryID: String
    public var status: Status
    public var version: Int64
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case status, version
        case lineID = "line_id"
        case lineName = "line_name"
        case factoryID = "factory_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    static let columns = "line_id, line_name, factory_id, status, version, created_at, updated_at"

    init(row: PostgresRow) throws {
        let columns = row.makeRandomAccess()
        lineID = try columns["line_id"].decode(String.self)
        lineName = try columns["line_name"].decode(String.self)
        factoryID = try columns["factory_id"].decode(String.self)
        guard let status = Status(rawValue: try columns["status"].decode(String.self)) else {
            throw StrataError(.internalError, "A production line row holds an unknown status.")
        }
        self.status = status
        version = try columns["version"].decode(Int64.self)
        createdAt = try columns["created_at"].decode(Date.self)
        updatedAt = try columns["updated_at"].decode(Date.self)
    }
}

/// A station of a line, in its order along the line (`factory.stations`).
public struct Station: Sendable, Codable, Equatable {
    public var stationID: String
    public var stationName: String
    public var lineID: String
    public var factoryID: String
    public var stationType: String?
    public var sequenceOrder: Int
    public var equipmentIDs: [String]
    public var version: Int64
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case version
        case stationID = "station_id"
        case stationName = "station_name"
        case lineID = "line_id"
        case factoryID = "factory_id"
        case stationType = "station_type"
        case sequenceOrder = "sequence_order"
        case equipmentIDs = "equipment_ids"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(stationID, forKey: .stationID)
        try container.encode(stationName, forKey: .stationName)
        try container.encode(lineID, forKey: .lineID)
        try container.encode(factoryID, forKey: .factoryID)
        try container.encode(stationType, forKey: .stationType)
        try container.encode(sequenceOrder, forKey: .sequenceOrder)
        try container.encode(equipmentIDs, forKey: .equipmentIDs)
        try container.encode(version, forKey: .version)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
    }

    static let columns = "station_id, station_name, line_id, factory_id, station_type, sequence_order, equipment_ids, version, created_at, updated_at"

    init(row: PostgresRow) throws {
        let columns = row.makeRandomAccess()
        stationID = try columns["station_id"].decode(String.self)
        stationName = try columns["station_name"].decode(String.self)
        lineID = try columns["line_id"].decode(String.self)
        factoryID = try columns["factory_id"].decode(String.self)
        stationType = try columns["station_type"].decode(String?.self)
        sequenceOrder = Int(try columns["sequence_order"].decode(Int32.self))
        equipmentIDs = try columns["equipment_ids"].decode([String].self)
        version = try columns["version"].decode(Int64.self)
        createdAt = try columns["created_at"].decode(Date.self)
        updatedAt = try columns["updated_at"].decode(Date.self)
    }
}

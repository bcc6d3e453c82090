public import Foundation
import StrataCore

/// One production measurement: the seed's InfluxDB point of `production_metrics` (tags
/// `line_id`, `station_id`; fields `yield_rate`, `cycle_time`).
public struct MetricPoint: Sendable, Equatable, Codable {
    public var time: Date
    public var lineID: String
    /// `""` for a line-level point.
    public var stationID: String
    public var yieldRate: Double?
    public var cycleTime: Double?

    enum CodingKeys: String, CodingKey {
        case time
        case lineID = "line_id"
        case stationID = "station_id"
        case yieldRate = "yield_rate"
        case cycleTime = "cycle_time"
    }

    public init(time: Date, lineID: String, stationID: String = "", yieldRate: Double?, cycleTime: Double?) {
        self.time = time
        self.lineID = lineID
        self.stationID = stationID
        self.yieldRate = yieldRate
        self.cycleTime = cycleTime
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        time = try container.decodeIfPresent(Date.self, forKey: .time) ?? Date()
        lineID = try container.decode(String.self, forKey: .lineID)
        stationID = try container.decodeIfPresent(String.self, forKey: .stationID) ?? ""
        yieldRate = try container.decodeIfPresent(Double.self, forKey: .yieldRate)
        cycleTime = try container.decodeIfPresent(Double.self, forKey: .cycleTime)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(time, forKey: .time)
        try container.encode(lineID, forKey: .lineID)
        try container.encode(stationID, forKey: .stationID)
        try container.encode(yieldRate, forKey: .yieldRate)
        try container.encode(cycleTime, forKey: .cycleTime)
    }

    /// The measurement the seed writes.
    static let measurement = "production_metrics"

    /// The point a line-protocol point stands for.
    /// - Throws: ``LineProtocol/ParseError``-shaped reasons naming what is not this measurement's.
    init(_ point: LineProtocol.Point) throws(LineProtocol.ParseError) {
        func refuse(_ reason: String) -> LineProtocol.ParseError {
            LineProtocol.ParseError(line: point.line, reason: reason, excerpt: point.measurement)
        }
        guard point.measurement == Self.measurement else {
            throw refuse("unknown measurement '\(point.measurement)' (this bucket holds \(Self.measurement))")
        }
        var line: String?
        var station = ""
        for (key, value) in point.tags {
            switch key {
            case "line_id": line = value
            case "station_id": station = value
            default: throw refuse("unknown tag '\(key)' (tags are line_id and station_id)")
            }
        }
        guard let line, FactoryScope.isPlantID(line) else { throw refuse("missing or malformed tag line_id") }
        guard station.isEmpty || FactoryScope.isPlantID(station) else { throw refuse("malformed tag station_id") }
        var yieldRate: Double?
        var cycleTime: Double?
        for (key, value) in point.fields {
            guard let number = value.number else { throw refuse("field '\(key)' must be a number") }
            switch key {
            case "yield_rate": yieldRate = number
            case "cycle_time": cycleTime = number
            default: throw refuse("unknown field '\(key)' (fields are yield_rate and cycle_time)")
            }
        }
        let seconds = Double(point.timestamp / 1_000) / 1_000_000  // whole microseconds, as PostgreSQL keeps them
        self.init(time: Date(timeIntervalSince1970: seconds), lineID: line, stationID: station, yieldRate: yieldRate, cycleTime: cycleTime)
    }

    /// Microseconds since 1970, as bound to PostgreSQL.
    var micros: Int64 { Int64((time.timeIntervalSince1970 * 1_000_000).rounded()) }
}

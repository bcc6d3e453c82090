public import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres

/// A line at a glance (`GET /api/factory/lines/{id}/overview`, the seed's
/// `production:overview:{line_id}`): its open anomalies by severity, its work orders by status,
/// and the last hour's yield and cycle time.
public struct LineOverview: Sendable, Codable, Equatable {
    public var lineID: String
    public var factoryID: String
    public var lineName: String
    public var status: String
    /// Anomalies not yet closed or cancelled, per severity (`low`, `medium`, `high`, `critical`).
    public var openAnomalies: [String: Int64]
    /// Work orders per status.
    public var workOrders: [String: Int64]
    public var lastHour: LastHour
    /// The line's overview version (it grows with every change the overview shows).
    public var version: Int64
    public var generatedAt: Date

    /// The last hour's metrics.
    public struct LastHour: Sendable, Codable, Equatable {
        public var from: Date
        public var yieldRate: MetricsService.Summary
        public var cycleTime: MetricsService.Summary

        enum CodingKeys: String, CodingKey {
            case from
            case yieldRate = "yield_rate"
            case cycleTime = "cycle_time"
        }
    }

    enum CodingKeys: String, CodingKey {
        case status, version
        case lineID = "line_id"
        case factoryID = "factory_id"
        case lineName = "line_name"
        case openAnomalies = "open_anomalies"
        case workOrders = "work_orders"
        case lastHour = "last_hour"
        case generatedAt = "generated_at"
    }

    /// The statement that reads one line's overview, its version in the same snapshot; the open
    /// anomalies come from the counts the triggers keep (`factory.line_open_anomalies`). The last
    /// hour's metrics are read station by station: the key `(line_id, station_id, time)` bounds
    /// the time only within a station, so the line's stations are found first by a skip scan
    /// over the key (one descent each), then each station's last hour is one range. Filtering
    /// the line's rows by time instead walked every row the line had in the month's partition.
    /// Prepared: it reads five scoped tables, and planning them and their policies costs more
    /// than running it.
    struct Query: PreparedLookup {
        static let name = "factory.LineOverview"
        static let sql = """
            SELECT l.line_id, l.factory_id, l.line_name, l.status, coalesce(v.version, 0) AS version, now() AS generated_at,
                   now() - interval '1 hour' AS hour_from,
                   (SELECT coalesce(json_object_agg(severity, n), '{}')::text FROM (
                        SELECT severity, sum(open_count)::bigint AS n FROM factory.line_open_anomalies AS c
                        WHERE c.line_id = l.line_id AND c.open_count > 0 GROUP BY severity) AS s) AS open_anomalies,
                   (SELECT coalesce(json_object_agg(status, n), '{}')::text FROM (
                        SELECT status, count(*) AS n FROM factory.work_orders AS w WHERE w.line_id = l.line_id GROUP BY status) AS s) AS work_orders,
                   m.yield_sum, m.yield_count, m.yield_min, m.yield_max, m.cycle_sum, m.cycle_count, m.cycle_min, m.cycle_max
            FROM factory.production_lines AS l
            LEFT JOIN factory.line_overview_versions AS v USING (line_id)
            LEFT JOIN LATERAL (
                WITH RECURSIVE stations (station_id) AS (
                    (SELECT p.station_id FROM factory.production_metrics AS p WHERE p.line_id = $1 ORDER BY p.station_id LIMIT 1)
                  UNION ALL
                    SELECT (SELECT p.station_id FROM factory.production_metrics AS p
                            WHERE p.line_id = $1 AND p.station_id > s.station_id ORDER BY p.station_id LIMIT 1)
                    FROM stations AS s WHERE s.station_id IS NOT NULL
                )
                SELECT sum(yield_rate) AS yield_sum, count(yield_rate) AS yield_count, min(yield_rate) AS yield_min, max(yield_rate) AS yield_max,
                       sum(cycle_time) AS cycle_sum, count(cycle_time) AS cycle_count, min(cycle_time) AS cycle_min, max(cycle_time) AS cycle_max
                FROM stations AS s JOIN factory.production_metrics AS p
                    ON p.line_id = $1 AND p.station_id = s.station_id AND p.time >= now() - interval '1 hour'
            ) AS m ON true
            WHERE l.line_id = $1
            """
        static let bindingDataTypes: [PostgresDataType] = [.text]

        var key: String
    }

    init(row: PostgresRow) throws {
        let columns = row.makeRandomAccess()
        func counts(_ name: String) throws -> [String: Int64] {
            try JSONDecoder.api().decode([String: Int64].self, from: Data(try columns[name].decode(String.self).utf8))
        }
        func summary(_ prefix: String) throws -> MetricsService.Summary {
            let count = try columns["\(prefix)_count"].decode(Int64?.self) ?? 0
            let sum = try columns["\(prefix)_sum"].decode(Double?.self)
            return .init(
                mean: count > 0 ? sum.map { $0 / Double(count) } : nil,
                min: try columns["\(prefix)_min"].decode(Double?.self),
                max: try columns["\(prefix)_max"].decode(Double?.self),
                count: count
            )
        }
        lineID = try columns["line_id"].decode(String.self)
        factoryID = try columns["factory_id"].decode(String.self)
        lineName = try columns["line_name"].decode(String.self)
        status = try columns["status"].decode(String.self)
        version = try columns["version"].decode(Int64.self)
        generatedAt = try columns["generated_at"].decode(Date.self)
        var open = try counts("open_anomalies")
        for severity in Severity.allCases where open[severity.rawValue] == nil { open[severity.rawValue] = 0 }
        openAnomalies = open
        var orders = try counts("work_orders")
        for status in WorkOrderStatus.allCases where orders[status.rawValue] == nil { orders[status.rawValue] = 0 }
        workOrders = orders
        lastHour = LastHour(from: try columns["hour_from"].decode(Date.self), yieldRate: try summary("yield"), cycleTime: try summary("cycle"))
    }
}

public import Foundation
public import Logging
import PostgresNIO
public import StrataCore
public import StrataPostgres

/// Production metrics (the seed's InfluxDB measurement `production_metrics`): batches written
/// as InfluxDB line protocol or JSON — all or nothing, a replay adding nothing — raw ranges,
/// windowed aggregates (mean, min, max, count per 1 m, 1 h or 1 d), and hourly and daily
/// rollups kept exact by a queue job (``rollupHandler``).
public struct MetricsService: Sendable {
    let pool: PostgresPool
    let store: MetricsStore
    let overviews: OverviewCache
    let logger: Logger
    /// The most points one batch may hold.
    public let maxBatchPoints: Int

    /// - Parameter overviews: The line overviews its writes make stale (by default uncached).
    public init(pool: PostgresPool, maxBatchPoints: Int = 50_000, overviews: OverviewCache? = nil, logger: Logger = Logger(label: "strata.factory")) {
        self.pool = pool
        self.store = MetricsStore(logger: logger)
        self.overviews = overviews ?? OverviewCache(pool: pool, redis: nil, logger: logger)
        self.maxBatchPoints = maxBatchPoints
        self.logger = logger
    }

    // MARK: Writes

    /// Writes a line-protocol batch, or nothing of it.
    /// - Throws: `factory.bad_line` (400) naming the first bad line, `forbidden` for a line
    ///   outside the caller's scope (with its line number), `payload_too_large` past
    ///   ``maxBatchPoints``.
    /// - Returns: How many points were written.
    @discardableResult
    public func write(lineProtocol body: some Collection<UInt8>, precision: LineProtocol.Precision, by caller: Caller) async throws -> Int {
        let parsed: [LineProtocol.Point]
        switch LineProtocol.parse(body, precision: precision) {
        case .success(let points): parsed = points
        case .failure(let error): throw Self.badLine(error)
        }
        var points: [MetricPoint] = []
        points.reserveCapacity(parsed.count)
        var lineNumbers: [Int] = []
        lineNumbers.reserveCapacity(parsed.count)
        for point in parsed {
            do {
                points.append(try MetricPoint(point))
                lineNumbers.append(point.line)
            } catch {
                throw Self.badLine(error)
            }
        }
        return try await write(points, lineNumbers: lineNumbers, by: caller)
    }

    /// Writes a JSON batch (`{"points": […]}`), or nothing of it.
    /// - Throws: `validation_failed` naming the first bad point (`points[3].line_id`), `forbidden`
    ///   for a line outside the caller's scope.
    @discardableResult
    public func write(_ points: [MetricPoint], by caller: Caller) async throws -> Int {
        for (index, point) in points.enumerated() {
            var errors: [StrataError.FieldError] = []
            if !FactoryScope.isPlantID(point.lineID) { errors.append(.init(field: "points[\(index)].line_id", reason: PlantService.idRule)) }
            if !point.stationID.isEmpty, !FactoryScope.isPlantID(point.stationID) {
                errors.append(.init(field: "points[\(index)].station_id", reason: PlantService.idRule))
            }
            if point.yieldRate == nil, point.cycleTime == nil {
                errors.append(.init(field: "points[\(index)]", reason: "needs yield_rate or cycle_time"))
            }
            for (field, value) in [("yield_rate", point.yieldRate), ("cycle_time", point.cycleTime)] {
                if let value, !value.isFinite { errors.append(.init(field: "points[\(index)].\(field)", reason: "must be a finite number")) }
            }
            if !(Self.earliest...Self.latest).contains(point.time) {
                errors.append(.init(field: "points[\(index)].time", reason: "must be between 1970 and 2200"))
            }
            if !errors.isEmpty { throw StrataError.validation(errors) }
        }
        return try await write(points, lineNumbers: nil, by: caller)
    }

    static let earliest = Date(timeIntervalSince1970: 0)
    static let latest = Date(timeIntervalSince1970: 7_258_118_400)  // 2200-01-01

    func write(_ points: [MetricPoint], lineNumbers: [Int]?, by caller: Caller) async throws -> Int {
        guard points.count <= maxBatchPoints else {
            throw StrataError(.payloadTooLarge, "A batch holds at most \(maxBatchPoints) points; split it.")
        }
        guard !points.isEmpty else { return 0 }
        if let lineNumbers, let index = points.indices.first(where: { !(Self.earliest...Self.latest).contains(points[$0].time) }) {
            throw Self.badLine(LineProtocol.ParseError(line: lineNumbers[index], reason: "time outside range", excerpt: MetricPoint.measurement))
        }
        let merged = Self.merged(points)
        let lines = Array(Set(points.map(\.lineID)))
        let store = store
        let versions = try await FactoryScope.security.transaction(on: pool, for: caller, logger: logger) { connection in
            let visible = try await store.visibleLines(lines, on: connection)
            if let index = points.indices.first(where: { !visible.contains(points[$0].lineID) }) {
                let limited = FactoryScope.isLimited(caller)
                let place = lineNumbers.map { "line \($0[index])" } ?? "points[\(index)]"
                throw StrataError(
                    limited ? .forbidden : .badLine,
                    "The point at \(place) is for line '\(points[index].lineID)', which is \(limited ? "outside your scope" : "not a production line"); nothing was written.",
                    details: ["line": lineNumbers.map { "\($0[index])" } ?? "\(index)"]
                )
            }
            try await store.insert(merged, on: connection)
            // Last, so that the lines' version rows are locked for as short a time as can be.
            return (try await store.bumpOverviews(of: lines, on: connection), nil)
        }
        await overviews.invalidateAfterCommit(versions)
        return points.count
    }

    /// One point per line, station and time: later fields of the same point win, as in InfluxDB.
    static func merged(_ points: [MetricPoint]) -> [MetricPoint] {
        struct Key: Hashable {
            let micros: Int64
            let line: String
            let station: String
        }
        var index: [Key: Int] = [:]
        var merged: [MetricPoint] = []
        merged.reserveCapacity(points.count)
        for point in points {
            let key = Key(micros: point.micros, line: point.lineID, station: point.stationID)
            if let at = index[key] {
                merged[at].yieldRate = point.yieldRate ?? merged[at].yieldRate
                merged[at].cycleTime = point.cycleTime ?? merged[at].cycleTime
            } else {
                index[key] = merged.count
                merged.append(point)
            }
        }
        return merged
    }

    static func badLine(_ error: LineProtocol.ParseError) -> StrataError {
        StrataError(.badLine, error.message + "; nothing was written.", details: ["line": "\(error.line)"])
    }

    // MARK: Reads

    /// A page of raw points: the items and the next page's cursor.
    public func points(
        line: String,
        station: String?,
        from: Date,
        to: Date,
        limit: Int,
        cursor: Cursor?,
        scopes: [String: [String]]
    ) async throws
        -> Page<MetricPoint>
    {
        var after: (Int64, String)?
        if let cursor {
            guard let micros = Int64(try cursor.string(at: 0)) else {
                throw StrataError.validation([.init(field: "cursor", reason: "is not a cursor of this list")])
            }
            after = (micros, try cursor.string(at: 1))
        }
        let (store, position) = (store, after)
        let rows = try await FactoryScope.security.read(on: pool, for: scopes, logger: logger) { connection in
            guard try await !store.visibleLines([line], on: connection).isEmpty else { throw PlantService.lineNotFound() }
            return try await store.points(line: line, station: station, from: from, to: to, after: position, limit: limit + 1, on: connection)
        }
        let page = Array(rows.prefix(limit))
        let next = rows.count > limit ? page.last.map { Cursor(values: ["\($0.micros)", $0.stationID]).encoded } : nil
        return Page(items: page, nextCursor: next)
    }

    /// The width of an aggregate's windows.
    public enum Window: String, Sendable, CaseIterable {
        case minute = "1m"
        case hour = "1h"
        case day = "1d"

        var seconds: Double {
            switch self {
            case .minute: 60
            case .hour: 3_600
            case .day: 86_400
            }
        }

        var interval: String {
            switch self {
            case .minute: "'1 minute'::interval"
            case .hour: "'1 hour'::interval"
            case .day: "'1 day'::interval"
            }
        }

        var period: String? {
            switch self {
            case .minute: nil
            case .hour: "hour"
            case .day: "day"
            }
        }
    }

    /// One field's summary in a window.
    public struct Summary: Sendable, Codable, Equatable {
        public var mean: Double?
        public var min: Double?
        public var max: Double?
        public var count: Int64

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(mean, forKey: .mean)
            try container.encode(min, forKey: .min)
            try container.encode(max, forKey: .max)
            try container.encode(count, forKey: .count)
        }
    }

    /// One window: its start and each field's summary.
    public struct Bucket: Sendable, Codable, Equatable {
        public var start: Date
        public var yieldRate: Summary
        public var cycleTime: Summary

        enum CodingKeys: String, CodingKey {
            case start
            case yieldRate = "yield_rate"
            case cycleTime = "cycle_time"
        }
    }

    /// The aggregates and where they came from.
    public struct Aggregates: Sendable, Codable {
        public var window: String
        public var from: Date
        public var to: Date
        /// `rollup` or `raw`.
        public var source: String
        public var items: [Bucket]
    }

    /// The most windows one aggregate answers.
    public static let maxWindows = 10_000

    /// Aggregates per window over `[from, to)` (widened to whole windows, UTC). Hourly and daily
    /// windows come from the rollups when no hour of the range waits for its rollup, else from
    /// the raw points; both give the same numbers.
    /// - Throws: `validation_failed` for more than ``maxWindows`` windows, `not_found` for a line
    ///   out of scope.
    public func aggregate(
        line: String,
        station: String?,
        from: Date,
        to: Date,
        window: Window,
        scopes: [String: [String]]
    ) async throws
        -> Aggregates
    {
        let start = Date(timeIntervalSince1970: (from.timeIntervalSince1970 / window.seconds).rounded(.down) * window.seconds)
        let end = Date(timeIntervalSince1970: (to.timeIntervalSince1970 / window.seconds).rounded(.up) * window.seconds)
        guard end.timeIntervalSince(start) / window.seconds <= Double(Self.maxWindows) else {
            throw StrataError.validation([
                .init(field: "window", reason: "at most \(Self.maxWindows) windows per query; narrow from/to or widen the window")
            ])
        }
        let store = store
        return try await FactoryScope.security.read(on: pool, for: scopes, logger: logger) { connection in
            guard try await !store.visibleLines([line], on: connection).isEmpty else { throw PlantService.lineNotFound() }
            if window.period != nil, try await !store.hasDirtyHours(line: line, from: start, to: end, on: connection) {
                let items = try await store.aggregateRollups(line: line, station: station, from: start, to: end, window: window, on: connection)
                return Aggregates(window: window.rawValue, from: start, to: end, source: "rollup", items: items)
            }
            let items = try await store.aggregateRaw(line: line, station: station, from: start, to: end, window: window, on: connection)
            return Aggregates(window: window.rawValue, from: start, to: end, source: "raw", items: items)
        }
    }

    // MARK: Rollups

    /// The queue of the app's periodic work.
    public static let queue = "factory.maintenance"
    static let rollupKind = "factory.metrics.rollup"

    /// The rollup job every minute.
    public var rollupSchedule: JobSchedule {
        JobSchedule(name: Self.rollupKind, every: .seconds(60), job: NewJob(queue: Self.queue, kind: Self.rollupKind, priority: 3))
    }

    /// Recomputes every marked hour (in passes of 500 marks); returns how many marks it took.
    @discardableResult
    public func rollUp() async throws -> Int {
        var total = 0
        while true {
            let store = store
            let done = try await pool.withTransaction { connection in try await store.rollUp(limit: 500, on: connection) }
            total += done
            if done < 500 { return total }
        }
    }

    /// The rollup job's handler.
    public var rollupHandler: JobHandler {
        { _ in #"{"marks":\#(try await rollUp())}"# }
    }
}

extension StrataError.Code {
    /// 400: a batch of points holds a line that cannot be read or stored (InfluxDB's answer).
    static let badLine = StrataError.Code("factory.bad_line", kind: .unreadableInput)
}

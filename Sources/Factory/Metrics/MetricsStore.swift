import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// The SQL of production metrics: raw points (monthly partitions), the rollups and their dirty
/// marks. Methods take the connection of a scoped transaction (``FactoryScope``), except the
/// rollup job's, which runs as the platform.
struct MetricsStore: Sendable {
    let logger: Logger

    /// Of `lines`, those the transaction may reach.
    func visibleLines(_ lines: [String], on connection: PostgresConnection) async throws -> Set<String> {
        let rows = try await connection.run(
            "SELECT line_id FROM factory.production_lines WHERE line_id = ANY(\(lines))",
            logger: logger
        ).collect()
        return Set(try rows.map { try $0.decode(String.self) })
    }

    /// Writes points (one per line, station and time: a replayed point changes nothing, a point
    /// with fields of its own adds them) and marks their hours for the rollups (appended marks:
    /// concurrent writers do not wait for each other).
    func insert(_ points: [MetricPoint], on connection: PostgresConnection) async throws {
        var (micros, lines, stations, yields, cycles) = ([Int64](), [String](), [String](), [Double](), [Double]())
        micros.reserveCapacity(points.count)
        lines.reserveCapacity(points.count)
        stations.reserveCapacity(points.count)
        yields.reserveCapacity(points.count)
        cycles.reserveCapacity(points.count)
        for point in points {
            micros.append(point.micros)
            lines.append(point.lineID)
            stations.append(point.stationID)
            // Arrays bind no NULL elements: a missing field travels as NaN (line protocol has no NaN).
            yields.append(point.yieldRate ?? .nan)
            cycles.append(point.cycleTime ?? .nan)
        }
        try await connection.run(
            """
            WITH points AS (
                SELECT timestamptz 'epoch' + t.us * interval '1 microsecond' AS time, t.line_id, t.station_id,
                       nullif(t.yield_rate, 'NaN'::float8) AS yield_rate, nullif(t.cycle_time, 'NaN'::float8) AS cycle_time
                FROM unnest(\(micros)::bigint[], \(lines)::text[], \(stations)::text[], \(yields)::float8[], \(cycles)::float8[])
                     AS t(us, line_id, station_id, yield_rate, cycle_time)
            ), marked AS (
                INSERT INTO factory.metric_rollup_dirty (line_id, hour)
                SELECT DISTINCT line_id, date_trunc('hour', time, 'UTC') FROM points
            )
            INSERT INTO factory.production_metrics (time, factory_id, line_id, station_id, yield_rate, cycle_time)
            SELECT p.time, l.factory_id, p.line_id, p.station_id, p.yield_rate, p.cycle_time
            FROM points AS p JOIN factory.production_lines AS l USING (line_id)
            ON CONFLICT (line_id, station_id, time) DO UPDATE
            SET yield_rate = coalesce(EXCLUDED.yield_rate, production_metrics.yield_rate),
                cycle_time = coalesce(EXCLUDED.cycle_time, production_metrics.cycle_time)
            WHERE (EXCLUDED.yield_rate IS NOT NULL AND EXCLUDED.yield_rate IS DISTINCT FROM production_metrics.yield_rate)
               OR (EXCLUDED.cycle_time IS NOT NULL AND EXCLUDED.cycle_time IS DISTINCT FROM production_metrics.cycle_time)
            """,
            logger: logger
        )
    }

    /// Bumps the overview versions of `lines` (their last hour's metrics changed); returns them.
    func bumpOverviews(of lines: [String], on connection: PostgresConnection) async throws -> [String: Int64] {
        let rows = try await connection.run(
            """
            INSERT INTO factory.line_overview_versions AS v (line_id) SELECT unnest(\(lines)::text[]) ORDER BY 1
            ON CONFLICT (line_id) DO UPDATE SET version = v.version + 1
            RETURNING line_id, version
            """,
            logger: logger
        ).collect()
        var versions: [String: Int64] = [:]
        for row in rows {
            let (line, version) = try row.decode((String, Int64).self)
            versions[line] = version
        }
        return versions
    }

    /// Raw points of a line (and station) in `[from, to)`, by time, after a position.
    func points(
        line: String,
        station: String?,
        from: Date,
        to: Date,
        after: (Int64, String)?,
        limit: Int,
        on connection: PostgresConnection
    )
        async throws -> [MetricPoint]
    {
        let (afterMicros, afterStation) = (after?.0, after?.1 ?? "")
        let rows = try await connection.run(
            """
            SELECT time, line_id, station_id, yield_rate, cycle_time FROM factory.production_metrics
            WHERE line_id = \(line) AND (\(station)::text IS NULL OR station_id = \(station))
              AND time >= \(from) AND time < \(to)
              AND (\(afterMicros)::bigint IS NULL
                   OR (time, station_id) > (timestamptz 'epoch' + \(afterMicros)::bigint * interval '1 microsecond', \(afterStation)))
            ORDER BY time, station_id
            LIMIT \(limit)
            """,
            logger: logger
        ).collect()
        return try rows.map { row in
            let (time, line, station, yieldRate, cycleTime) = try row.decode((Date, String, String, Double?, Double?).self)
            return MetricPoint(time: time, lineID: line, stationID: station, yieldRate: yieldRate, cycleTime: cycleTime)
        }
    }

    /// Whether any hour of the line in `[from, to)` waits for its rollup.
    func hasDirtyHours(line: String, from: Date, to: Date, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.run(
            """
            SELECT EXISTS (SELECT 1 FROM factory.metric_rollup_dirty
                           WHERE line_id = \(line) AND hour >= date_trunc('day', \(from)::timestamptz, 'UTC') - interval '1 hour' AND hour < \(to))
            """,
            logger: logger
        ).collect()
        return try rows.first?.decode(Bool.self) ?? true
    }

    /// Aggregates per window from the raw points.
    func aggregateRaw(
        line: String,
        station: String?,
        from: Date,
        to: Date,
        window: MetricsService.Window,
        on connection: PostgresConnection
    )
        async throws -> [MetricsService.Bucket]
    {
        let rows = try await connection.run(
            """
            SELECT date_bin(\(unescaped: window.interval), time, timestamptz 'epoch') AS bucket,
                   sum(yield_rate), count(yield_rate), min(yield_rate), max(yield_rate),
                   sum(cycle_time), count(cycle_time), min(cycle_time), max(cycle_time)
            FROM factory.production_metrics
            WHERE line_id = \(line) AND (\(station)::text IS NULL OR station_id = \(station)) AND time >= \(from) AND time < \(to)
            GROUP BY 1 ORDER BY 1
            """,
            logger: logger
        ).collect()
        return try rows.map(Self.bucket(from:))
    }

    /// Aggregates per hour or day from the rollups (exact when no hour of the range is marked).
    func aggregateRollups(
        line: String,
        station: String?,
        from: Date,
        to: Date,
        window: MetricsService.Window,
        on connection: PostgresConnection
    )
        async throws -> [MetricsService.Bucket]
    {
        let rows = try await connection.run(
            """
            SELECT bucket, sum(yield_rate_sum), sum(yield_rate_count)::bigint, min(yield_rate_min), max(yield_rate_max),
                   sum(cycle_time_sum), sum(cycle_time_count)::bigint, min(cycle_time_min), max(cycle_time_max)
            FROM factory.metric_rollups
            WHERE line_id = \(line) AND period = \(window.period) AND (\(station)::text IS NULL OR station_id = \(station))
              AND bucket >= \(from) AND bucket < \(to)
            GROUP BY bucket ORDER BY bucket
            """,
            logger: logger
        ).collect()
        return try rows.map(Self.bucket(from:))
    }

    static func bucket(from row: PostgresRow) throws -> MetricsService.Bucket {
        let columns = row.makeRandomAccess()
        func field(_ offset: Int) throws -> MetricsService.Summary {
            let count = try columns[offset + 1].decode(Int64.self)
            let sum = try columns[offset].decode(Double?.self)
            return .init(
                mean: count > 0 ? sum.map { $0 / Double(count) } : nil,
                min: try columns[offset + 2].decode(Double?.self),
                max: try columns[offset + 3].decode(Double?.self),
                count: count
            )
        }
        return .init(start: try columns[0].decode(Date.self), yieldRate: try field(1), cycleTime: try field(5))
    }

    // MARK: The rollup job (as the platform, every line)

    /// Removes up to `limit` marks (those of committed writes: a write not yet committed keeps
    /// its marks for the next pass), then recomputes their hours and days from the raw points
    /// in later statements, which see those writes; returns how many marks it took.
    func rollUp(limit: Int, on connection: PostgresConnection) async throws -> Int {
        let rows = try await connection.run(
            """
            DELETE FROM factory.metric_rollup_dirty
            WHERE ctid = ANY(ARRAY(SELECT ctid FROM factory.metric_rollup_dirty ORDER BY hour LIMIT \(limit) FOR UPDATE SKIP LOCKED))
            RETURNING line_id, hour
            """,
            logger: logger
        ).collect()
        guard !rows.isEmpty else { return 0 }
        struct Mark: Hashable {
            let line: String
            let hour: Date
        }
        let marks = Array(
            Set(
                try rows.map { row in
                    let (line, hour) = try row.decode((String, Date).self)
                    return Mark(line: line, hour: hour)
                }
            )
        )
        .map { ($0.line, $0.hour) }
        let (lines, hours) = (marks.map(\.0), marks.map(\.1))
        // Each statement sees every write committed before it began (READ COMMITTED): the writes
        // whose marks were taken have committed.
        try await connection.run(
            """
            WITH marks AS (SELECT * FROM unnest(\(lines)::text[], \(hours)::timestamptz[]) AS m(line_id, hour))
            DELETE FROM factory.metric_rollups AS r USING marks AS m
            WHERE r.period = 'hour' AND r.line_id = m.line_id AND r.bucket = m.hour
            """,
            logger: logger
        )
        try await connection.run(
            """
            WITH marks AS (SELECT * FROM unnest(\(lines)::text[], \(hours)::timestamptz[]) AS m(line_id, hour))
            INSERT INTO factory.metric_rollups (period, bucket, factory_id, line_id, station_id, yield_rate_sum, yield_rate_count,
                                                yield_rate_min, yield_rate_max, cycle_time_sum, cycle_time_count, cycle_time_min, cycle_time_max)
            SELECT 'hour', m.hour, p.factory_id, p.line_id, p.station_id,
                   sum(p.yield_rate), count(p.yield_rate), min(p.yield_rate), max(p.yield_rate),
                   sum(p.cycle_time), count(p.cycle_time), min(p.cycle_time), max(p.cycle_time)
            FROM marks AS m JOIN factory.production_metrics AS p
              ON p.line_id = m.line_id AND p.time >= m.hour AND p.time < m.hour + interval '1 hour'
            GROUP BY m.hour, p.factory_id, p.line_id, p.station_id
            """,
            logger: logger
        )
        // The days of those hours, again from their hours.
        try await connection.run(
            """
            WITH days AS (SELECT DISTINCT line_id, date_trunc('day', hour, 'UTC') AS day
                          FROM unnest(\(lines)::text[], \(hours)::timestamptz[]) AS m(line_id, hour))
            DELETE FROM factory.metric_rollups AS r USING days AS d
            WHERE r.period = 'day' AND r.line_id = d.line_id AND r.bucket = d.day
            """,
            logger: logger
        )
        try await connection.run(
            """
            WITH days AS (SELECT DISTINCT line_id, date_trunc('day', hour, 'UTC') AS day
                          FROM unnest(\(lines)::text[], \(hours)::timestamptz[]) AS m(line_id, hour))
            INSERT INTO factory.metric_rollups (period, bucket, factory_id, line_id, station_id, yield_rate_sum, yield_rate_count,
                                                yield_rate_min, yield_rate_max, cycle_time_sum, cycle_time_count, cycle_time_min, cycle_time_max)
            SELECT 'day', d.day, r.factory_id, r.line_id, r.station_id,
                   sum(r.yield_rate_sum), sum(r.yield_rate_count), min(r.yield_rate_min), max(r.yield_rate_max),
                   sum(r.cycle_time_sum), sum(r.cycle_time_count), min(r.cycle_time_min), max(r.cycle_time_max)
            FROM days AS d JOIN factory.metric_rollups AS r
              ON r.period = 'hour' AND r.line_id = d.line_id AND r.bucket >= d.day AND r.bucket < d.day + interval '1 day'
            GROUP BY d.day, r.factory_id, r.line_id, r.station_id
            """,
            logger: logger
        )
        return rows.count
    }
}

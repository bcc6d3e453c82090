public import Foundation
public import Logging
import PostgresNIO
public import ServiceLifecycle
import StrataCore

/// Keeps every declared ``PartitionedTable``: creates the current partition and the ones
/// ahead, moves rows out of the default partition into the partition they belong to (creating
/// it), and applies the declared retention. Runs at start and then every
/// ``Configuration/interval``; `strata partitions maintain` runs the same pass by hand.
///
/// Each table is handled in one transaction under an advisory lock, so several servers can
/// run the maintainer at once: one does the work, the others then find nothing to do.
public final class PartitionMaintainer: Service, Sendable {
    /// Settings.
    public struct Configuration: Sendable {
        /// Time between passes.
        public var interval: Duration

        public init(interval: Duration = .seconds(3600)) {
            self.interval = interval
        }
    }

    /// What one pass did to one table.
    public struct Report: Sendable, Equatable {
        public var table: String
        public var created: [String] = []
        /// Rows moved out of the default partition.
        public var movedRows: Int = 0
        public var detached: [String] = []
        public var dropped: [String] = []
    }

    /// One partition as it is now.
    public struct Partition: Sendable, Equatable {
        public var name: String
        /// `FOR VALUES …` as PostgreSQL prints it, or `DEFAULT`.
        public var bound: String
        /// The planner's row estimate (`-1` before the first ANALYZE).
        public var estimatedRows: Int64
    }

    /// One table as it is now.
    public struct Status: Sendable, Equatable {
        public var table: PartitionedTable
        public var partitions: [Partition]
        /// Rows in the default partition (should be 0).
        public var defaultRows: Int64
        /// Partitions of the current interval and the ones ahead that do not exist yet.
        public var missing: [String]
        /// Partitions the declared retention would detach or drop now.
        public var expired: [String]
    }

    public let tables: [PartitionedTable]
    public let configuration: Configuration
    let pool: PostgresPool
    let logger: Logger
    /// The first key of the per-table advisory locks ("stpm").
    static let lockClass: Int32 = 0x7374_706D

    public init(tables: [PartitionedTable], pool: PostgresPool, configuration: Configuration = .init(), logger: Logger) {
        self.tables = tables
        self.pool = pool
        self.configuration = configuration
        self.logger = logger
    }

    /// Maintains every interval until shut down (the server runs the first pass before it
    /// starts its services); failures are logged and retried at the next pass.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.configuration.interval)
                if Task.isCancelled { return }
                do {
                    for report in try await self.maintain()
                    where report.created.count + report.detached.count + report.dropped.count + report.movedRows > 0 {
                        self.logger.info(
                            "maintained partitions",
                            metadata: [
                                "strata.partitions.table": "\(report.table)", "strata.partitions.created": "\(report.created)",
                                "strata.partitions.moved_rows": "\(report.movedRows)", "strata.partitions.detached": "\(report.detached)",
                                "strata.partitions.dropped": "\(report.dropped)",
                            ]
                        )
                    }
                } catch {
                    if Task.isCancelled { return }
                    // An outage is logged once, by the pool.
                    self.logger.log(
                        level: self.pool.isOutage(error) ? .debug : .warning,
                        "partition maintenance failed; retrying at the next pass",
                        metadata: ["strata.error": "\(error)"]
                    )
                }
            }
        }
    }

    /// One pass over every table.
    /// - Parameter now: The current time (tests pass their own).
    public func maintain(now: Date = Date()) async throws -> [Report] {
        var reports: [Report] = []
        for table in tables { reports.append(try await maintain(table, now: now)) }
        return reports
    }

    /// The state of every table.
    public func status(now: Date = Date()) async throws -> [Status] {
        var result: [Status] = []
        for table in tables {
            let (partitions, defaultRows) = try await pool.withConnection { connection in
                (try await self.partitions(of: table, on: connection), try await self.defaultRowCount(of: table, on: connection))
            }
            let names = Set(partitions.map(\.name))
            let wanted = wantedStarts(for: table, now: now).map(table.partitionName(startingAt:))
            result.append(
                Status(
                    table: table,
                    partitions: partitions,
                    defaultRows: defaultRows,
                    missing: wanted.filter { !names.contains($0) },
                    expired: expired(partitions.map(\.name), of: table, now: now)
                )
            )
        }
        return result
    }

    func maintain(_ table: PartitionedTable, now: Date) async throws -> Report {
        try await pool.withTransaction { connection in
            let logger = pool.statementLogger
            try await connection.run("SELECT pg_advisory_xact_lock(\(Self.lockClass), hashtext(\(table.qualifiedName)))", logger: logger)
            var report = Report(table: table.qualifiedName)
            var existing = Set(try await partitions(of: table, on: connection).map(\.name))
            var starts = Set(wantedStarts(for: table, now: now))
            // Rows that landed in the default partition get a partition of their own.
            let stranded = try await connection.run(
                """
                SELECT DISTINCT date_trunc(\(table.interval.rawValue), \(unescaped: table.column), 'UTC')
                FROM \(unescaped: table.schema).\(unescaped: table.defaultPartition)
                """,
                logger: logger
            )
            for try await start in stranded.decode(Date.self) { starts.insert(start) }
            for start in starts.sorted() where !existing.contains(table.partitionName(startingAt: start)) {
                report.movedRows += try await createPartition(of: table, startingAt: start, on: connection)
                report.created.append(table.partitionName(startingAt: start))
                existing.insert(table.partitionName(startingAt: start))
            }
            for name in expired(Array(existing), of: table, now: now) {
                switch table.retention {
                case .keep: break
                case .detach:
                    try await connection.run(
                        "ALTER TABLE \(unescaped: table.qualifiedName) DETACH PARTITION \(unescaped: table.schema).\(unescaped: name)",
                        logger: logger
                    )
                    report.detached.append(name)
                case .drop:
                    try await connection.run("DROP TABLE \(unescaped: table.schema).\(unescaped: name)", logger: logger)
                    report.dropped.append(name)
                }
            }
            return report
        }
    }

    /// Creates one partition; rows of its range waiting in the default partition move into it.
    /// - Returns: The number of rows moved.
    private func createPartition(of table: PartitionedTable, startingAt start: Date, on connection: PostgresConnection) async throws -> Int {
        let logger = pool.statementLogger
        let name = table.partitionName(startingAt: start)
        let end = table.intervalStart(1, after: start)
        let bounds = "FOR VALUES FROM ('\(Self.literal(start))') TO ('\(Self.literal(end))')"
        let qualified = "\(table.schema).\(name)"
        let inRange = "\(table.column) >= '\(Self.literal(start))' AND \(table.column) < '\(Self.literal(end))'"
        let waiting =
            try await connection.run(
                "SELECT count(*) FROM \(unescaped: table.schema).\(unescaped: table.defaultPartition) WHERE \(unescaped: inRange)",
                logger: logger
            ).collect().first?.decode(Int64.self) ?? 0
        if waiting == 0 {
            try await connection.run(
                "CREATE TABLE \(unescaped: qualified) PARTITION OF \(unescaped: table.qualifiedName) \(unescaped: bounds)",
                logger: logger
            )
            return 0
        }
        // Attaching a range the default partition has rows of fails; move them first.
        try await connection.run(
            "CREATE TABLE \(unescaped: qualified) (LIKE \(unescaped: table.qualifiedName) INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
            logger: logger
        )
        try await connection.run(
            """
            WITH moved AS (
                DELETE FROM \(unescaped: table.schema).\(unescaped: table.defaultPartition) WHERE \(unescaped: inRange) RETURNING *
            )
            INSERT INTO \(unescaped: qualified) SELECT * FROM moved
            """,
            logger: logger
        )
        try await connection.run(
            "ALTER TABLE \(unescaped: table.qualifiedName) ATTACH PARTITION \(unescaped: qualified) \(unescaped: bounds)",
            logger: logger
        )
        return Int(waiting)
    }

    func partitions(of table: PartitionedTable, on connection: PostgresConnection) async throws -> [Partition] {
        let rows = try await connection.run(
            """
            SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid), c.reltuples::bigint
            FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
            WHERE i.inhparent = to_regclass(\(table.qualifiedName))
            ORDER BY c.relname
            """,
            logger: pool.statementLogger
        )
        var partitions: [Partition] = []
        for try await (name, bound, estimate) in rows.decode((String, String, Int64).self) {
            partitions.append(Partition(name: name, bound: bound, estimatedRows: estimate))
        }
        return partitions
    }

    func defaultRowCount(of table: PartitionedTable, on connection: PostgresConnection) async throws -> Int64 {
        try await connection.run(
            "SELECT count(*) FROM \(unescaped: table.schema).\(unescaped: table.defaultPartition)",
            logger: pool.statementLogger
        ).collect().first?.decode(Int64.self) ?? 0
    }

    /// The current interval and the ones ahead.
    func wantedStarts(for table: PartitionedTable, now: Date) -> [Date] {
        let current = table.intervalStart(containing: now)
        return (0...table.createAhead).map { table.intervalStart($0, after: current) }
    }

    /// Our partitions that ended at or before the retention horizon.
    func expired(_ names: [String], of table: PartitionedTable, now: Date) -> [String] {
        let keep: Int
        switch table.retention {
        case .keep: return []
        case .detach(let after), .drop(let after): keep = after
        }
        let horizon = table.intervalStart(-keep, after: table.intervalStart(containing: now))
        return names.filter { name in
            guard let start = table.intervalStart(ofPartition: name) else { return false }
            return table.intervalStart(1, after: start) <= horizon
        }.sorted()
    }

    /// A UTC timestamp literal.
    static func literal(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(timeSeparator: .colon, includingFractionalSeconds: false, timeZone: TimeZone(identifier: "UTC")!))
    }
}

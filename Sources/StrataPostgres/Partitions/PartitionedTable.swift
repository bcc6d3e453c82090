public import Foundation
public import StrataCore

/// How a range-partitioned table is kept: by what column and interval, how many partitions
/// ahead, and what happens to old ones. Modules declare their tables; the
/// ``PartitionMaintainer`` does the rest.
///
/// ```swift
/// let auditLog = PartitionedTable(schema: "strata", table: "audit_log", column: "occurred_at")  // monthly, 3 ahead, keep all
/// let metrics = PartitionedTable(schema: "factory", table: "production_metrics", column: "recorded_at",
///                                retention: .drop(after: 13))
/// ```
///
/// The table itself is made by a migration, `PARTITION BY RANGE (column)` with a `DEFAULT`
/// partition named `<table>_default`; partitions are named `<table>_pYYYY_MM` (monthly) or
/// `<table>_pYYYY_MM_DD` (daily) and cover `[start, next start)` in UTC.
public struct PartitionedTable: Sendable, Hashable {
    /// The partition interval.
    public enum Interval: String, Sendable, Hashable {
        case month, day
    }

    /// What happens to partitions past their age. Nothing is removed unless it says so.
    public enum Retention: Sendable, Hashable, CustomStringConvertible {
        /// Keep every partition (the default).
        case keep
        /// Detach partitions that ended more than this many intervals ago (the table stays,
        /// outside the partitioned table, for archiving).
        case detach(after: Int)
        /// Drop partitions that ended more than this many intervals ago.
        case drop(after: Int)

        public var description: String {
            switch self {
            case .keep: "keep"
            case .detach(let after): "detach after \(after)"
            case .drop(let after): "drop after \(after)"
            }
        }
    }

    public var schema: String
    public var table: String
    /// The partition key column (a `timestamptz`).
    public var column: String
    public var interval: Interval
    /// Partitions created beyond the current one (at least 3 for monthly tables).
    public var createAhead: Int
    public var retention: Retention

    /// Creates a declaration.
    /// - Precondition: names are lowercase SQL identifiers; `createAhead` ≥ 1.
    public init(schema: String, table: String, column: String, interval: Interval = .month, createAhead: Int = 3, retention: Retention = .keep) {
        precondition(
            [schema, table, column].allSatisfy(OutboxEvent.isAppName),
            "partitioned table names must be lowercase SQL identifiers"
        )
        precondition(createAhead >= 1, "createAhead must be at least 1")
        self.schema = schema
        self.table = table
        self.column = column
        self.interval = interval
        self.createAhead = createAhead
        self.retention = retention
    }

    /// `schema.table`.
    public var qualifiedName: String { "\(schema).\(table)" }
    /// The default partition's name.
    public var defaultPartition: String { "\(table)_default" }

    static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    /// The start of the interval that contains `date`.
    public func intervalStart(containing date: Date) -> Date {
        let components: Set<Calendar.Component> = interval == .month ? [.year, .month] : [.year, .month, .day]
        return Self.calendar.date(from: Self.calendar.dateComponents(components, from: date))!
    }

    /// The start of the interval `count` intervals after the one starting at `start`.
    public func intervalStart(_ count: Int, after start: Date) -> Date {
        Self.calendar.date(byAdding: interval == .month ? .month : .day, value: count, to: start)!
    }

    /// The partition's name for the interval starting at `start`.
    public func partitionName(startingAt start: Date) -> String {
        let parts = Self.calendar.dateComponents([.year, .month, .day], from: start)
        let month = String(format: "%04d_%02d", parts.year!, parts.month!)
        return interval == .month ? "\(table)_p\(month)" : "\(table)_p\(month)_\(String(format: "%02d", parts.day!))"
    }

    /// The interval start a partition name stands for, when it is one of ours.
    public func intervalStart(ofPartition name: String) -> Date? {
        guard name.hasPrefix("\(table)_p") else { return nil }
        let digits = name.dropFirst(table.count + 2).split(separator: "_").map { Int($0) }
        guard digits.allSatisfy({ $0 != nil }) else { return nil }
        let numbers = digits.compactMap { $0 }
        switch (interval, numbers.count) {
        case (.month, 2): return Self.calendar.date(from: DateComponents(year: numbers[0], month: numbers[1], day: 1))
        case (.day, 3): return Self.calendar.date(from: DateComponents(year: numbers[0], month: numbers[1], day: numbers[2]))
        default: return nil
        }
    }
}

extension PartitionedTable.Retention {
    /// Reads `keep`, `detach:<n>` or `drop:<n>` (n: 1–1200 intervals) from `key`; `keep`
    /// when it is not set.
    /// - Throws: `invalid_configuration` naming the variable and what it allows.
    public init(environment: EnvironmentReader, key: String) throws {
        guard let raw = environment.string(key) else {
            self = .keep
            return
        }
        let allowed = "keep, detach:<months> or drop:<months> (1-1200)"
        if raw == "keep" {
            self = .keep
            return
        }
        let parts = raw.split(separator: ":")
        guard parts.count == 2, let count = Int(parts[1]), (1...1200).contains(count) else {
            throw environment.invalid(key, raw, allowed: allowed)
        }
        switch parts[0] {
        case "detach": self = .detach(after: count)
        case "drop": self = .drop(after: count)
        default: throw environment.invalid(key, raw, allowed: allowed)
        }
    }
}

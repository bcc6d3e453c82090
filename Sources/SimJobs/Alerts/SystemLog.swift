public import Foundation
import Logging
public import PostgresNIO
public import StrataCore
public import StrataPostgres

/// `simjobs.system_logs`: what the task server did on its own — alerts raised and resolved,
/// retention passes, tasks rescued from lost workers, workers starting and stopping, model
/// loads, requests that failed on the server's side — with the source that did it and, where a
/// request caused it, the request id. Written in the transaction of the change it reports
/// where there is one.
public struct SystemLogEntry: Sendable, Encodable, Equatable {
    public enum Source: String, Sendable, Codable, CaseIterable {
        case api, worker, scheduler, system
    }

    public var id: Int64
    public var createdAt: Date
    public var level: String
    public var source: Source
    public var logger: String
    public var message: String
    public var requestID: String?
    public var extra: JSONValue

    enum CodingKeys: String, CodingKey {
        case id, level, source, logger, message, extra
        case createdAt = "created_at"
        case requestID = "request_id"
    }
}

/// Writes and reads system log entries.
public struct SystemLog: Sendable {
    let pool: PostgresPool

    /// The levels of task and system log lines.
    public static let levels = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Appends an entry in the caller's transaction.
    public static func write(
        _ level: String,
        _ source: SystemLogEntry.Source,
        _ message: String,
        loggerName name: String = "simjobs",
        requestID: String? = nil,
        extra: JSONValue = .object([:]),
        on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        try await connection.run(
            """
            INSERT INTO simjobs.system_logs (level, source, logger, message, request_id, extra)
            VALUES (\(level), \(source.rawValue), \(name), \(String(message.prefix(10_000))), \(requestID), \(extra.text)::jsonb)
            """,
            logger: logger
        )
    }

    /// Appends an entry on its own (no change to commit it with); a failure to write is logged
    /// to the process log and swallowed: a system log line never fails the work it reports.
    public func record(
        _ level: String,
        _ source: SystemLogEntry.Source,
        _ message: String,
        loggerName name: String = "simjobs",
        requestID: String? = nil,
        extra: JSONValue = .object([:])
    ) async {
        do {
            try await pool.withConnection { connection in
                try await Self.write(
                    level,
                    source,
                    message,
                    loggerName: name,
                    requestID: requestID,
                    extra: extra,
                    on: connection,
                    logger: pool.statementLogger
                )
            }
        } catch {
            pool.statementLogger.warning("system log entry not written", metadata: ["strata.error": "\(error)"])
        }
    }

    /// Filters of the system log.
    public struct Filter: Sendable, Equatable {
        public var level: String?
        public var source: SystemLogEntry.Source?
        public var requestID: String?

        public init(level: String? = nil, source: SystemLogEntry.Source? = nil, requestID: String? = nil) {
            self.level = level
            self.source = source
            self.requestID = requestID
        }
    }

    /// Entries, newest first, a keyset page at a time.
    public func list(_ filter: Filter, limit: Int, cursor: Cursor?) async throws -> Page<SystemLogEntry> {
        let position = try NewestFirst<Int64>(after: cursor)
        let rows = try await pool.query(
            """
            SELECT id, created_at, level, source, logger, message, request_id, extra::text, \(unescaped: NewestFirst<Int64>.positionColumn)
            FROM simjobs.system_logs
            WHERE (\(filter.level)::text IS NULL OR level = \(filter.level))
              AND (\(filter.source?.rawValue)::text IS NULL OR source = \(filter.source?.rawValue))
              AND (\(filter.requestID)::text IS NULL OR request_id = \(filter.requestID))
              AND \(after: position)
            ORDER BY created_at DESC, id DESC
            LIMIT \(limit + 1)
            """
        )
        return try position.page(rows, limit: limit, item: Self.entry(from:), id: \.id)
    }

    static func entry(from row: PostgresRow) throws -> SystemLogEntry {
        let (id, created, level, source, logger, message, requestID, extra, _) = try row.decode(
            (Int64, Date, String, String, String, String, String?, String, Int64).self
        )
        return SystemLogEntry(
            id: id,
            createdAt: created,
            level: level,
            source: SystemLogEntry.Source(rawValue: source) ?? .system,
            logger: logger,
            message: message,
            requestID: requestID,
            extra: try JSONValue(parsing: extra)
        )
    }
}

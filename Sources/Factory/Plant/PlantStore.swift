import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// The SQL of lines and stations. Every method takes the connection of a scoped transaction
/// (``FactoryScope``): none filters by scope itself.
struct PlantStore: Sendable {
    let logger: Logger

    func lines(factory: String?, on connection: PostgresConnection) async throws -> [ProductionLine] {
        try await connection.run(
            """
            SELECT \(unescaped: ProductionLine.columns) FROM factory.production_lines
            WHERE (\(factory)::text IS NULL OR factory_id = \(factory))
            ORDER BY factory_id, line_id LIMIT 1000
            """,
            logger: logger
        ).collect().map(ProductionLine.init(row:))
    }

    func line(_ id: String, lock: Bool = false, on connection: PostgresConnection) async throws -> ProductionLine? {
        try await connection.run(
            "SELECT \(unescaped: ProductionLine.columns) FROM factory.production_lines WHERE line_id = \(id) \(unescaped: lock ? "FOR UPDATE" : "")",
            logger: logger
        ).collect().first.map(ProductionLine.init(row:))
    }

    func insertLine(
        id: String,
        name: String,
        factory: String,
        status: ProductionLine.Status,
        on connection: PostgresConnection
    ) async throws
        -> ProductionLine
    {
        let rows = try await connection.run(
            """
            INSERT INTO factory.production_lines (line_id, line_name, factory_id, status)
            VALUES (\(id), \(name), \(factory), \(status.rawValue))
            RETURNING \(unescaped: ProductionLine.columns)
            """,
            logger: logger
        ).collect()
        return try ProductionLine(row: rows[0])
    }

    /// Renames a line or changes its status when its version is `expectedVersion`; `nil` when no row matched.
    func updateLine(
        _ id: String,
        name: String?,
        status: ProductionLine.Status?,
        expectedVersion: Int64,
        on connection: PostgresConnection
    )
        async throws -> ProductionLine?
    {
        try await connection.run(
            """
            UPDATE factory.production_lines
            SET line_name = coalesce(\(name), line_name), status = coalesce(\(status?.rawValue), status), version = version + 1
            WHERE line_id = \(id) AND version = \(expectedVersion)
            RETURNING \(unescaped: ProductionLine.columns)
            """,
            logger: logger
        ).collect().first.map(ProductionLine.init(row:))
    }

    func stations(of line: String, on connection: PostgresConnection) async throws -> [Station] {
        try await connection.run(
            "SELECT \(unescaped: Station.columns) FROM factory.stations WHERE line_id = \(line) ORDER BY sequence_order, station_id LIMIT 1000",
            logger: logger
        ).collect().map(Station.init(row:))
    }

    func insertStation(_ draft: PlantService.StationDraft, line: ProductionLine, on connection: PostgresConnection) async throws -> Station {
        let rows = try await connection.run(
            """
            INSERT INTO factory.stations (station_id, station_name, line_id, factory_id, station_type, sequence_order, equipment_ids)
            VALUES (\(draft.stationID), \(draft.stationName), \(line.lineID), \(line.factoryID), \(draft.stationType),
                    \(Int32(draft.sequenceOrder ?? 0)), \(draft.equipmentIDs ?? []))
            RETURNING \(unescaped: Station.columns)
            """,
            logger: logger
        ).collect()
        return try Station(row: rows[0])
    }
}

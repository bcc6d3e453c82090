import Foundation
public import Logging
import PostgresNIO
import StrataCore
public import StrataPostgres

/// Production lines and their stations, within the caller's scope: a line outside it is not
/// found, and creating one in a factory outside it is refused.
public struct PlantService: Sendable {
    let pool: PostgresPool
    let store: PlantStore
    let overviews: OverviewCache
    let logger: Logger

    /// - Parameter overviews: The line overviews its writes make stale (by default uncached).
    public init(pool: PostgresPool, overviews: OverviewCache? = nil, logger: Logger = Logger(label: "strata.factory")) {
        self.pool = pool
        self.store = PlantStore(logger: logger)
        self.overviews = overviews ?? OverviewCache(pool: pool, redis: nil, logger: logger)
        self.logger = logger
    }

    /// A new line as a client sends it.
    public struct LineDraft: Sendable, Decodable {
        public var lineID: String
        public var lineName: String
        public var factoryID: String
        public var status: ProductionLine.Status?

        enum CodingKeys: String, CodingKey {
            case status
            case lineID = "line_id"
            case lineName = "line_name"
            case factoryID = "factory_id"
        }

        public init(lineID: String, lineName: String, factoryID: String, status: ProductionLine.Status? = nil) {
            (self.lineID, self.lineName, self.factoryID, self.status) = (lineID, lineName, factoryID, status)
        }
    }

    /// An edit of a line: only the fields given change.
    public struct LinePatch: Sendable, Decodable {
        public var lineName: String?
        public var status: ProductionLine.Status?

        enum CodingKeys: String, CodingKey {
            case status
            case lineName = "line_name"
        }
    }

    /// A new station as a client sends it.
    public struct StationDraft: Sendable, Decodable {
        public var stationID: String
        public var stationName: String
        public var stationType: String?
        public var sequenceOrder: Int?
        public var equipmentIDs: [String]?

        enum CodingKeys: String, CodingKey {
            case stationID = "station_id"
            case stationName = "station_name"
            case stationType = "station_type"
            case sequenceOrder = "sequence_order"
            case equipmentIDs = "equipment_ids"
        }

        public init(stationID: String, stationName: String, stationType: String? = nil, sequenceOrder: Int? = nil, equipmentIDs: [String]? = nil) {
            self.stationID = stationID
            self.stationName = stationName
            self.stationType = stationType
            self.sequenceOrder = sequenceOrder
            self.equipmentIDs = equipmentIDs
        }
    }

    // MARK: Reads

    /// The lines in scope, by factory and id (at most 1,000).
    public func lines(factory: String?, scopes: [String: [String]]) async throws -> [ProductionLine] {
        let store = store
        return try await FactoryScope.security.read(on: pool, for: scopes, logger: logger) { connection in
            try await store.lines(factory: factory, on: connection)
        }
    }

    /// One line.
    /// - Throws: `not_found` when there is none in scope.
    public func line(_ id: String, scopes: [String: [String]]) async throws -> ProductionLine {
        let store = store
        let line = try await FactoryScope.security.read(on: pool, for: scopes, logger: logger) { connection in
            try await store.line(id, on: connection)
        }
        guard let line else { throw Self.lineNotFound() }
        return line
    }

    /// A line's stations in their order.
    /// - Throws: `not_found` when the line is not in scope.
    public func stations(of lineID: String, scopes: [String: [String]]) async throws -> [Station] {
        let store = store
        return try await FactoryScope.security.read(on: pool, for: scopes, logger: logger) { connection in
            guard try await store.line(lineID, on: connection) != nil else { throw Self.lineNotFound() }
            return try await store.stations(of: lineID, on: connection)
        }
    }

    // MARK: Writes

    /// Checks a line's edit (before its `If-Match`).
    public func precheck(_ patch: LinePatch) throws {
        if let name = patch.lineName, !(1...100).contains(name.textLength) {
            throw StrataError.validation([.init(field: "line_name", reason: "must be 1 to 100 characters")])
        }
    }

    /// Creates a line.
    /// - Throws: `validation_failed`, `conflict` for a line id in use, `forbidden` for a factory
    ///   outside the caller's scope.
    public func createLine(_ draft: LineDraft, by caller: Caller) async throws -> ProductionLine {
        var errors: [StrataError.FieldError] = []
        if !FactoryScope.isPlantID(draft.lineID) { errors.append(.init(field: "line_id", reason: Self.idRule)) }
        if !FactoryScope.isPlantID(draft.factoryID) { errors.append(.init(field: "factory_id", reason: Self.idRule)) }
        if !(1...100).contains(draft.lineName.textLength) { errors.append(.init(field: "line_name", reason: "must be 1 to 100 characters")) }
        if !errors.isEmpty { throw StrataError.validation(errors) }
        let store = store
        return try await FactoryScope.security.transaction(on: pool, for: caller, logger: logger) { connection in
            let line = try await store.insertLine(
                id: draft.lineID,
                name: draft.lineName,
                factory: draft.factoryID,
                status: draft.status ?? .active,
                on: connection
            )
            return (line, try Self.change(line, "line.created", action: "create", status: 201))
        }
    }

    /// Renames a line or changes its status, when it is still at `expectedVersion`.
    /// - Throws: `not_found`, `precondition_failed` (412) for a stale version, `validation_failed`.
    public func updateLine(_ id: String, _ patch: LinePatch, expectedVersion: Int64, by caller: Caller) async throws -> ProductionLine {
        try precheck(patch)
        let store = store
        return try await overviews.transaction(for: caller) { connection in
            guard
                let line = try await store.updateLine(
                    id,
                    name: patch.lineName,
                    status: patch.status,
                    expectedVersion: expectedVersion,
                    on: connection
                )
            else {
                guard try await store.line(id, on: connection) != nil else { throw Self.lineNotFound() }
                throw StrataError.staleVersion()
            }
            return (line, try Self.change(line, "line.updated", action: "update", status: 200))
        }
    }

    /// Adds a station to a line.
    /// - Throws: `not_found` for a line out of scope, `conflict` for a station id in use,
    ///   `validation_failed`.
    public func createStation(on lineID: String, _ draft: StationDraft, by caller: Caller) async throws -> Station {
        var errors: [StrataError.FieldError] = []
        if !FactoryScope.isPlantID(draft.stationID) { errors.append(.init(field: "station_id", reason: Self.idRule)) }
        if !(1...100).contains(draft.stationName.textLength) { errors.append(.init(field: "station_name", reason: "must be 1 to 100 characters")) }
        if let kind = draft.stationType, !(1...50).contains(kind.textLength) {
            errors.append(.init(field: "station_type", reason: "must be 1 to 50 characters"))
        }
        if let order = draft.sequenceOrder, !(0...100_000).contains(order) {
            errors.append(.init(field: "sequence_order", reason: "must be 0 to 100000"))
        }
        if let equipment = draft.equipmentIDs, equipment.count > 100 || equipment.contains(where: { !(1...100).contains($0.textLength) }) {
            errors.append(.init(field: "equipment_ids", reason: "at most 100 ids of 1 to 100 characters"))
        }
        if !errors.isEmpty { throw StrataError.validation(errors) }
        let store = store
        return try await FactoryScope.security.transaction(on: pool, for: caller, logger: logger) { connection in
            guard let line = try await store.line(lineID, on: connection) else { throw Self.lineNotFound() }
            let station = try await store.insertStation(draft, line: line, on: connection)
            let change = Change(
                app: "factory",
                action: "create",
                resourceType: "station",
                resourceID: station.stationID,
                status: 201,
                events: [
                    try OutboxEvent(
                        app: "factory",
                        aggregateType: "line",
                        aggregateID: line.lineID,
                        kind: "station.created",
                        payload: station
                    )
                ]
            )
            return (station, change)
        }
    }

    static let idRule = "must be 1 to 50 letters, digits or _ . : - starting with a letter or digit"

    static func lineNotFound() -> StrataError {
        StrataError(.notFound, "No production line has this id.")
    }

    static func change(_ line: ProductionLine, _ kind: String, action: String, status: Int) throws -> Change {
        Change(
            app: "factory",
            action: action,
            resourceType: "line",
            resourceID: line.lineID,
            status: status,
            events: [
                try OutboxEvent(
                    app: "factory",
                    aggregateType: "line",
                    aggregateID: line.lineID,
                    kind: kind,
                    payload: line,
                    cacheKeys: [AnomalyService.overviewKey(line.lineID)]
                )
            ]
        )
    }
}

import Crypto
public import Foundation
import Logging
import PostgresNIO
public import StrataCore
public import StrataObjects
public import StrataPostgres

/// Structures: upload (parsed, checked, deduplicated by SHA-256), read, download, list, delete.
///
/// The file goes to object storage under a key of its own row
/// (`simjobs/structures/<id>.<format>`) **before** the row is written, so no row ever points
/// at a missing object; a row is deleted before its object, for the same reason. Two uploads of
/// the same bytes are one structure: the second gets the first's row (and pushes its expiry out
/// to 180 days from then), and its own object is removed. Each upload and deletion commits its
/// row, its audit entry and its outbox event (`structure.uploaded`, `structure.deleted`) together.
public struct StructureService: Sendable {
    let pool: PostgresPool
    let store: StructureStore
    let objects: any ObjectStore
    let logger: Logger

    /// How long an uploaded structure is kept.
    public static let lifetimeDays = 180

    public init(pool: PostgresPool, objects: any ObjectStore) {
        self.pool = pool
        self.store = StructureStore(pool: pool)
        self.objects = objects
        self.logger = pool.statementLogger
    }

    /// Stores an uploaded file.
    /// - Parameters:
    ///   - name: The structure's name (its file name, typically).
    ///   - format: The format; `nil` takes it from `name`'s extension.
    ///   - builtin: Kept forever (admins only; the caller checks).
    /// - Returns: The structure, and whether this upload created it (`false`: the same bytes
    ///   were already uploaded).
    /// - Throws: `validation_failed` (name, format), `simjobs.invalid_structure_file`,
    ///   `storage_unavailable`.
    public func upload(
        _ data: Data,
        name: String,
        format: StructureFormat?,
        builtin: Bool = false,
        by caller: Caller
    ) async throws -> (structure: Structure, created: Bool) {
        let format = try Self.checkedFormat(name: name, format: format)
        guard !data.isEmpty else {
            throw StrataError.validation([.init(field: "file", reason: "is empty")])
        }
        let parsed = try StructureFile.parse(data, format: format)
        let checksum = Hex.encode(SHA256.hash(data: data))
        if let existing = try await refreshExisting(checksum: checksum) { return (existing, false) }

        let id = UUID()
        let key = try ObjectKey("simjobs/structures/\(id.uuidString.lowercased()).\(format.rawValue)")
        try await objects.put(data, at: key, contentType: format.mediaType)
        do {
            let inserted: Structure? = try await pool.withTransaction { connection in
                guard
                    let structure = try await store.insert(
                        id: id,
                        name: name,
                        format: format,
                        checksum: checksum,
                        size: Int64(data.count),
                        key: key,
                        parsed: parsed,
                        builtin: builtin,
                        on: connection,
                        logger: logger
                    )
                else { return nil }
                try await ChangeLog.record(
                    structureChange(structure, action: "upload", kind: "structure.uploaded", status: 201),
                    by: caller,
                    on: connection,
                    logger: logger
                )
                return structure
            }
            if let inserted { return (inserted, true) }
        } catch {
            await removeObject(key)
            throw error
        }
        // Someone uploaded the same bytes at the same moment: theirs is the structure.
        await removeObject(key)
        guard let existing = try await refreshExisting(checksum: checksum) else {
            throw StrataError(.concurrentUpdate, "The structure changed while it was uploaded; try again.")
        }
        return (existing, false)
    }

    /// One structure.
    /// - Throws: `not_found`.
    public func structure(_ id: UUID) async throws -> Structure {
        guard let structure = try await store.find(id) else { throw Self.notFound() }
        return structure
    }

    /// A structure and its file's bytes.
    /// - Throws: `not_found`; `storage_unavailable` when the object store fails.
    public func content(_ id: UUID) async throws -> (Structure, Data) {
        let structure = try await structure(id)
        guard let data = try await objects.get(try ObjectKey(structure.objectKey)) else {
            throw StrataError(.storageUnavailable, "The file of this structure is missing from object storage.")
        }
        return (structure, data)
    }

    /// Filters of the structure list.
    public struct Filter: Sendable, Equatable {
        public var builtin: Bool?
        public var format: StructureFormat?

        public init(builtin: Bool? = nil, format: StructureFormat? = nil) {
            self.builtin = builtin
            self.format = format
        }
    }

    /// Structures, newest first, a keyset page at a time.
    public func list(_ filter: Filter, limit: Int, cursor: Cursor?) async throws -> Page<Structure> {
        try await store.list(filter, limit: limit, cursor: cursor)
    }

    /// Deletes an uploaded structure; its tasks keep its name.
    /// - Throws: `not_found`; `simjobs.structure_builtin` (409) for a built-in structure.
    public func delete(_ id: UUID, by caller: Caller) async throws {
        let removed: Structure = try await pool.withTransaction { connection in
            guard let structure = try await store.deleteUploaded(id, on: connection, logger: logger) else {
                throw try await store.exists(id, on: connection, logger: logger)
                    ? StrataError(.structureBuiltin, "Built-in structures are kept; only uploaded structures can be deleted.")
                    : Self.notFound()
            }
            try await ChangeLog.record(
                structureChange(structure, action: "delete", kind: "structure.deleted", status: 204),
                by: caller,
                on: connection,
                logger: logger
            )
            return structure
        }
        await removeObject(try ObjectKey(removed.objectKey))
    }

    /// Deletes the objects of structures whose rows are gone (retention); failures are logged.
    func removeObjects(_ keys: [String]) async {
        for key in keys {
            guard let key = try? ObjectKey(key) else { continue }
            await removeObject(key)
        }
    }

    /// The row of an earlier upload of the same bytes, its expiry pushed out again.
    private func refreshExisting(checksum: String) async throws -> Structure? {
        try await store.refresh(checksum: checksum, lifetimeDays: Self.lifetimeDays)
    }

    /// The change of one structure: its event (the structure as payload) and audit entry.
    private func structureChange(_ structure: Structure, action: String, kind: String, status: Int) throws -> Change {
        let id = structure.id.uuidString
        return Change(
            app: "simjobs",
            action: action,
            resourceType: "structure",
            resourceID: id,
            status: status,
            events: [try OutboxEvent(app: "simjobs", aggregateType: "structure", aggregateID: id, kind: kind, payload: structure)]
        )
    }

    private func removeObject(_ key: ObjectKey) async {
        do {
            try await objects.delete(key)
        } catch {
            logger.warning("could not remove a structure file", metadata: ["strata.object.key": "\(key)", "error": "\(error)"])
        }
    }

    static func checkedFormat(name: String, format: StructureFormat?) throws -> StructureFormat {
        var errors: [StrataError.FieldError] = []
        if name.isEmpty || name.textLength > 255 {
            errors.append(.init(field: "name", reason: "must be 1 to 255 characters"))
        } else if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == "\"" || $0 == "\\" || $0 == "/" }) {
            errors.append(.init(field: "name", reason: "must not hold control characters, quotes, slashes or backslashes"))
        }
        let fromName = name.split(separator: ".").last.flatMap { StructureFormat(rawValue: $0.lowercased()) }
        let chosen = format ?? (name.contains(".") ? fromName : nil)
        if chosen == nil {
            errors.append(.init(field: "format", reason: "must be cif or xyz (give it, or a name ending in .cif or .xyz)"))
        }
        guard errors.isEmpty, let chosen else { throw StrataError.validation(errors) }
        return chosen
    }

    private static func notFound() -> StrataError {
        StrataError(.notFound, "No structure has this id.")
    }
}

extension StrataError.Code {
    /// Built-in structures cannot be deleted (409).
    public static let structureBuiltin = Self("simjobs.structure_builtin", kind: .conflict)
}

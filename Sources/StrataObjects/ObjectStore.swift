public import Foundation

/// Where Strata keeps blobs: uploaded structures, chat attachments, OCR results.
///
/// The database holds only references (an ``ObjectKey`` plus whatever the app records about
/// the blob); the bytes live here. Two implementations pass the same conformance suite:
/// ``FileSystemObjectStore`` (the embedded default, under `$STRATA_HOME/objects`) and
/// ``S3ObjectStore`` (any S3-compatible endpoint). ``ObjectStoreConfiguration`` picks one from
/// the environment.
///
/// Every operation is safe to retry. A ``put(_:at:contentType:)`` is atomic: a reader sees the
/// old object or the new one, never part of either.
public protocol ObjectStore: Sendable {
    /// Stores `data` under `key`, replacing any object there.
    /// - Parameter contentType: The media type, kept where the store can keep it (S3); the
    ///   apps record it beside the key as well.
    /// - Returns: What was stored.
    @discardableResult
    func put(_ data: Data, at key: ObjectKey, contentType: String?) async throws -> ObjectInfo

    /// The object's bytes, or `nil` when there is no object under `key`.
    func get(_ key: ObjectKey) async throws -> Data?

    /// The object's size and time, or `nil` when there is no object under `key`.
    func info(_ key: ObjectKey) async throws -> ObjectInfo?

    /// Removes the object; removing a missing object is not an error.
    func delete(_ key: ObjectKey) async throws

    /// Objects whose keys start with `prefix`, in key order, after `after` when given (keyset
    /// paging: pass the last key of the previous page).
    /// - Parameter limit: At most this many (1–1000).
    func list(prefix: String, after: ObjectKey?, limit: Int) async throws -> [ObjectInfo]
}

extension ObjectStore {
    /// Stores `data` with no recorded media type.
    @discardableResult
    public func put(_ data: Data, at key: ObjectKey) async throws -> ObjectInfo {
        try await put(data, at: key, contentType: nil)
    }

    /// Every object under `prefix`, page by page.
    public func listAll(prefix: String, pageSize: Int = 1000) async throws -> [ObjectInfo] {
        var all: [ObjectInfo] = []
        var after: ObjectKey?
        while true {
            let page = try await list(prefix: prefix, after: after, limit: pageSize)
            all += page
            guard page.count == pageSize, let last = page.last else { return all }
            after = last.key
        }
    }
}

/// What a store knows about one object.
public struct ObjectInfo: Sendable, Hashable {
    public var key: ObjectKey
    /// Size in bytes.
    public var size: Int64
    /// When it was last written (the store's clock, to the second or better).
    public var lastModified: Date

    public init(key: ObjectKey, size: Int64, lastModified: Date) {
        self.key = key
        self.size = size
        self.lastModified = lastModified
    }
}

import Foundation
public import Logging
import PostgresNIO
import StrataCore
public import StrataPostgres
public import StrataRedis

/// Line overviews, cached in Redis under the seed's `production:overview:{line_id}` for 300 s
/// and never stale after a write: each entry carries its line's overview version (bumped in the
/// writing transaction by the app's triggers), every write replaces it with a tombstone of the
/// new version once it commits — and so does the outbox relay, from the write's event — so an
/// older overview can never be put back. Without Redis, overviews are read from PostgreSQL.
public struct OverviewCache: Sendable {
    let pool: PostgresPool
    let cache: HotCache<LineOverview>
    let logger: Logger

    /// The Redis keys' prefix (the seed's).
    public static let keyPrefix = "production:overview:"

    public init(pool: PostgresPool, redis: RedisClient?, ttl: Duration = .seconds(300), logger: Logger) {
        self.pool = pool
        self.cache = HotCache(redis: redis, name: "factory_overview", keyPrefix: Self.keyPrefix, ttl: ttl, logger: logger)
        self.logger = logger
    }

    /// A line's overview as the API's JSON, for a caller of `scopes`: a cached overview is served
    /// as Redis holds it, neither decoded nor encoded again, once the policies' rule
    /// (``allows(_:factory:line:)``) admits its line (the key) and factory (the document's first
    /// member, ``leadingFactoryID(_:)``); a load reads as the caller, under row-level security.
    /// - Throws: `not_found` when the line is not there for them.
    public func overviewJSON(of line: String, scopes: [String: [String]]) async throws -> [UInt8] {
        guard let entry = try await cache.getJSON(line, load: loader(of: line, scopes: scopes)) else { throw PlantService.lineNotFound() }
        let factory = try Self.leadingFactoryID(entry.json) ?? JSONDecoder.api().decode(LineOverview.self, from: Data(entry.json)).factoryID
        guard Self.allows(scopes, factory: factory, line: line) else { throw PlantService.lineNotFound() }
        return entry.json
    }

    /// The factory of an overview as this cache writes it (``LineOverview``'s own JSON, keys
    /// sorted, so `factory_id` first), read without parsing the rest; `nil` when the document
    /// does not begin so or the id holds an escape (the caller decodes it then).
    static func leadingFactoryID(_ json: [UInt8]) -> String? {
        let prefix = Array(#"{"factory_id":""#.utf8)
        guard json.starts(with: prefix) else { return nil }
        let start = prefix.count
        guard let end = json[start...].firstIndex(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }),
            json[end] == UInt8(ascii: "\"")
        else { return nil }
        return String(decoding: json[start..<end], as: UTF8.self)
    }

    /// How the cache loads a line's overview: read as the caller, under row-level security.
    private func loader(of line: String, scopes: [String: [String]]) -> @Sendable () async throws -> HotCache<LineOverview>.Versioned? {
        { [pool, logger] in
            try await FactoryScope.security.read(on: pool, for: scopes, logger: logger) { connection in
                try await connection.rows(LineOverview.Query(key: line), logger: logger).first
                    .map { row in
                        let overview = try LineOverview(row: row)
                        return HotCache<LineOverview>.Versioned(value: overview, version: overview.version)
                    }
            }
        }
    }

    /// Whether scopes reach a line of a factory: the row-level policies' rule.
    static func allows(_ scopes: [String: [String]], factory: String, line: String) -> Bool {
        (scopes[FactoryScope.factories].map { $0.contains(factory) } ?? true) && (scopes[FactoryScope.lines].map { $0.contains(line) } ?? true)
    }

    /// The overview versions of `lines` as the transaction sees them (after its writes).
    func versions(of lines: [String], on connection: PostgresConnection) async throws -> [String: Int64] {
        guard !lines.isEmpty else { return [:] }
        let rows = try await connection.rows(Versions(key: lines), logger: logger)
        var versions: [String: Int64] = [:]
        for row in rows {
            let (line, version) = try row.decode((String, Int64).self)
            versions[line] = version
        }
        return versions
    }

    /// ``versions(of:on:)``'s read, prepared (every write that changes an overview runs it).
    struct Versions: PreparedLookup {
        static let name = "factory.LineOverviewVersions"
        static let sql = "SELECT line_id, version FROM factory.line_overview_versions WHERE line_id = ANY($1)"
        static let bindingDataTypes: [PostgresDataType] = [.textArray]

        var key: [String]
    }

    /// The change with its overview keys versioned (for the relay's tombstones), and the
    /// versions to invalidate once the transaction commits.
    func versioning(_ change: Change?, on connection: PostgresConnection) async throws -> (Change?, [String: Int64]) {
        guard var change else { return (nil, [:]) }
        let lines = Set(change.events.flatMap(\.cacheKeys).filter { $0.hasPrefix(Self.keyPrefix) }.map { String($0.dropFirst(Self.keyPrefix.count)) })
        let versions = try await self.versions(of: Array(lines), on: connection)
        for index in change.events.indices {
            change.events[index].cacheKeys = change.events[index].cacheKeys.map { key in
                guard key.hasPrefix(Self.keyPrefix), let version = versions[String(key.dropFirst(Self.keyPrefix.count))] else { return key }
                return OutboxEvent.versionedCacheKey(key, version: version)
            }
        }
        return (change, versions)
    }

    /// Replaces the overviews of these lines by tombstones of their new versions once the
    /// caller's transaction commits (the relay does it again from the events, should Redis be
    /// unreachable now).
    func invalidateAfterCommit(_ versions: [String: Int64]) async {
        guard !versions.isEmpty else { return }
        await EnclosingTransaction.afterCommit { [cache, logger] in
            for (line, version) in versions {
                do {
                    try await cache.invalidate(line, version: version)
                } catch {
                    logger.warning("the overview of a line could not be invalidated now; the relay will", metadata: ["strata.line": "\(line)"])
                }
            }
        }
    }

    /// Runs a scoped write (``RowSecurity/transaction(on:for:logger:_:)``) whose change names
    /// overview keys, and makes those overviews stale once it commits.
    func transaction<Result: Sendable>(
        for caller: Caller,
        _ body: @Sendable (PostgresConnection) async throws -> (Result, Change?)
    ) async throws -> Result {
        let (result, versions) = try await FactoryScope.security.transaction(on: pool, for: caller, logger: logger) { connection in
            let (result, change) = try await body(connection)
            let (versioned, versions) = try await versioning(change, on: connection)
            return ((result, versions), versioned)
        }
        await invalidateAfterCommit(versions)
        return result
    }
}

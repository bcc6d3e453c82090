import Foundation
import Logging
import StrataCore
import StrataPostgres
import StrataRedis

/// Unread-message counters per reader in Redis (`strata:workorders:unread:<reader>`, a hash of
/// order id → count), with PostgreSQL as their source: a reader's hash is built from the store's
/// read markers when it is missing (first read, Redis restarted or flushed, expiry) and lives
/// an hour, so any drift heals.
///
/// A posted message increments the hashes that exist (one script: a missing hash stays missing
/// and is rebuilt on its next read). Without Redis every read is computed by the store.
struct UnreadCounters: Sendable {
    let redis: RedisClient?
    let repository: any WorkOrdersRepository
    let logger: Logger
    static let lifetime = Duration.seconds(3600)
    /// The field that marks a built hash (a hash with no unread orders still exists).
    static let builtField = "_built"

    static let incrementScript = RedisScript(
        """
        for i = 1, #KEYS do
          if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('HINCRBY', KEYS[i], ARGV[1], 1) end
        end
        return 0
        """
    )

    static func key(_ reader: String) -> String { "strata:workorders:unread:\(reader)" }

    /// Unread counts of `reader` per order (only orders with some).
    func counts(for reader: String) async throws -> [UUID: Int] {
        guard let redis else { return try await repository.unreadCounts(for: reader) }
        do {
            let stored = try await redis.hashGetAll(Self.key(reader))
            if stored[Self.builtField] != nil {
                var counts: [UUID: Int] = [:]
                for (field, value) in stored {
                    if let id = UUID(uuidString: field), let count = Int(value), count > 0 { counts[id] = count }
                }
                return counts
            }
        } catch {
            logger.debug("unread counters unavailable in Redis", metadata: ["error": "\(error)"])
            return try await repository.unreadCounts(for: reader)
        }
        let counts = try await repository.unreadCounts(for: reader)
        var fields = [Self.builtField: "1"]
        for (id, count) in counts { fields[id.uuidString] = "\(count)" }
        do {
            _ = try await redis.hashSet(Self.key(reader), fields)
            _ = try await redis.expire(Self.key(reader), after: Self.lifetime)
        } catch {
            logger.debug("could not store rebuilt unread counters", metadata: ["error": "\(error)"])
        }
        return counts
    }

    /// A message was committed on `orderID`: one more unread for every watcher but its author.
    /// Inside an enclosing transaction (an idempotent request) it waits for that commit.
    func messagePosted(on orderID: UUID, watchers: [String], author: String) async {
        let readers = watchers.filter { $0 != author }
        guard let redis, !readers.isEmpty else { return }
        await EnclosingTransaction.afterCommit {
            do {
                _ = try await redis.run(Self.incrementScript, keys: readers.map(Self.key), arguments: [orderID.uuidString])
            } catch {
                // The hashes may now undercount: drop them so that they are rebuilt.
                _ = try? await redis.delete(readers.map(Self.key))
            }
        }
    }

    /// `reader` has read `orderID`: forget its cached counts so they are rebuilt from the markers.
    /// Inside an enclosing transaction (an idempotent request) it waits for that commit.
    func read(_ orderID: UUID, by reader: String) async {
        guard let redis else { return }
        await EnclosingTransaction.afterCommit {
            do {
                try await redis.hashDelete(Self.key(reader), [orderID.uuidString])
            } catch {
                _ = try? await redis.delete(Self.key(reader))
            }
        }
    }
}

import Foundation
import StrataCore
import StrataPostgres
import StrataRedis

/// Publishes a batch of relayed events to their app streams and deletes the cache keys they
/// name, in one atomic script (one round trip per batch).
///
/// Each event goes in at its fixed position (`XADD … 0-<sequence>`). An entry at or below the
/// stream's top was published before — by an earlier attempt of the same batch, or by another
/// relay — and is skipped, so publishing a batch twice leaves the stream as publishing it
/// once. Cache keys are handled either way: plain ones deleted, versioned ones
/// (``OutboxEvent/versionedCacheKey(_:version:)``) replaced by a tombstone of their version
/// unless Redis holds an equal or newer one — the rule of `HotCache` — so a reader that loaded
/// an older row can never put it back after the relay's pass.
struct StreamPublisher: Sendable {
    let redis: RedisClient
    let streams: EventStreams
    let maximumLength: Int

    /// KEYS: the batch's streams, then its cache keys. ARGV[1]: the approximate maximum stream
    /// length. ARGV[2]: `[[stream key index, entry id, [field, value, …], [[cache key index,
    /// version or "0"], …]], …]`. ARGV[3]: a tombstone's lifetime in milliseconds.
    static let script = RedisScript(
        """
        local events = cjson.decode(ARGV[2])
        local added = 0
        for i = 1, #events do
            local event = events[i]
            local reply = redis.pcall('XADD', KEYS[event[1]], 'MAXLEN', '~', ARGV[1], event[2], unpack(event[3]))
            if type(reply) == 'table' and reply.err then
                if not string.find(reply.err, 'equal or smaller', 1, true) then
                    return redis.error_reply(reply.err)
                end
            else
                added = added + 1
            end
            local stale = event[4]
            for j = 1, #stale do
                local key = KEYS[stale[j][1]]
                local version = tonumber(stale[j][2])
                if version == 0 then
                    redis.call('DEL', key)
                else
                    local current = redis.call('GET', key)
                    local stored = current and tonumber(string.match(current, '^(%d+):'))
                    if not (stored and stored >= version) then
                        redis.call('SET', key, stale[j][2] .. ':', 'PX', ARGV[3])
                    end
                end
            end
        end
        return added
        """
    )

    /// Publishes the events in order.
    /// - Returns: How many entries were added (the rest were already there).
    func publish(_ events: [LiveEvent]) async throws -> Int {
        guard !events.isEmpty else { return 0 }
        var keys: [String] = []
        var index: [String: Int] = [:]
        func position(_ key: String) -> Int {
            if let existing = index[key] { return existing }
            keys.append(key)
            index[key] = keys.count
            return keys.count
        }
        var items: [ScriptEvent] = []
        items.reserveCapacity(events.count)
        for live in events { _ = position(streams.key(for: live.event.app)) }
        for live in events {
            items.append(
                ScriptEvent(
                    stream: index[streams.key(for: live.event.app)]!,
                    entryID: EventStreams.entryID(of: live.sequence),
                    fields: live.streamFields,
                    staleKeys: live.event.cacheKeys.map { entry in
                        let (key, version) = OutboxEvent.parseCacheKey(entry)
                        return StaleKey(index: position(key), version: version.map(String.init) ?? "0")
                    }
                )
            )
        }
        var json = JSONWriter(capacity: 256 * items.count)
        json.array(items) { json, item in item.write(to: &json) }
        let batch = String(decoding: json.bytes, as: UTF8.self)
        let reply = try await redis.run(Self.script, keys: keys, arguments: ["\(maximumLength)", batch, "\(Self.tombstoneLifetime)"])
        return Int(reply.integer ?? 0)
    }

    /// How long a tombstone written by the relay lives, in milliseconds: longer than any load in
    /// flight when the event was published; after it the key is simply a miss.
    static let tombstoneLifetime = 600_000

    /// A cache key an event makes stale: its index in KEYS and its version ("0": delete).
    struct StaleKey {
        var index: Int
        var version: String
    }

    /// One event as the script reads it: `[stream, entry id, [fields], [[key, version], …]]`.
    struct ScriptEvent {
        var stream: Int
        var entryID: String
        var fields: [String]
        var staleKeys: [StaleKey]

        func write(to json: inout JSONWriter) {
            json.array { json in
                json.value(stream)
                json.value(entryID)
                json.value(fields)
                json.array(staleKeys) { json, key in
                    json.array { json in
                        json.value(key.index)
                        json.value(key.version)
                    }
                }
            }
        }
    }
}

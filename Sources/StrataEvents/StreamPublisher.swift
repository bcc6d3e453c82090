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
/// once. Cache keys are deleted either way.
struct StreamPublisher: Sendable {
    let redis: RedisClient
    let streams: EventStreams
    let maximumLength: Int

    /// KEYS: the batch's streams, then its cache keys. ARGV[1]: the approximate maximum stream
    /// length. ARGV[2]: `[[stream key index, entry id, [field, value, …], [cache key index, …]], …]`.
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
                redis.call('DEL', KEYS[stale[j]])
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
                    staleKeys: live.event.cacheKeys.map(position)
                )
            )
        }
        let batch = String(decoding: try JSONEncoder().encode(items), as: UTF8.self)
        let reply = try await redis.run(Self.script, keys: keys, arguments: ["\(maximumLength)", batch])
        return Int(reply.integer ?? 0)
    }

    /// One event as the script reads it: a JSON array.
    struct ScriptEvent: Encodable {
        var stream: Int
        var entryID: String
        var fields: [String]
        var staleKeys: [Int]

        func encode(to encoder: any Encoder) throws {
            var container = encoder.unkeyedContainer()
            try container.encode(stream)
            try container.encode(entryID)
            try container.encode(fields)
            try container.encode(staleKeys)
        }
    }
}

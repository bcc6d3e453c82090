import Synchronization

/// A small in-process cache whose entries expire: what a server remembers for a few seconds to
/// spare a database round trip per request (API keys by prefix, verified tokens, revocation
/// answers). Bounded: when full, it starts over rather than tracking recency.
public final class ExpiringCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry {
        var value: Value
        var until: ContinuousClock.Instant
    }

    private let entries = Mutex<[Key: Entry]>([:])
    /// The most entries kept.
    public let limit: Int

    public init(limit: Int = 10_000) {
        self.limit = max(1, limit)
    }

    /// The value for `key`, unless absent or expired.
    public func value(for key: Key, now: ContinuousClock.Instant = .now) -> Value? {
        entries.withLock { entries in
            guard let entry = entries[key], entry.until > now else { return nil }
            return entry.value
        }
    }

    /// The value for `key` even when expired (expired entries stay until replaced or the cache
    /// starts over): the last known answer, for when the source cannot be asked.
    public func lastKnownValue(for key: Key) -> Value? {
        entries.withLock { $0[key]?.value }
    }

    /// Keeps `value` for `key` until `until`.
    public func set(_ value: Value, for key: Key, until: ContinuousClock.Instant) {
        entries.withLock { entries in
            if entries.count >= limit && entries[key] == nil { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(value: value, until: until)
        }
    }

    /// Changes the value for `key` in place, when there is one (its expiry stays).
    public func update(_ key: Key, _ change: (inout Value) -> Void) {
        entries.withLock { entries in
            if entries[key] != nil { change(&entries[key]!.value) }
        }
    }

    /// Forgets `key`.
    public func remove(_ key: Key) {
        entries.withLock { _ = $0.removeValue(forKey: key) }
    }
}

import StrataCore

/// When a `SET` applies.
public enum SetCondition: Sendable {
    /// `NX`: only when the key does not exist.
    case ifAbsent
    /// `XX`: only when the key exists.
    case ifPresent
}

extension RedisClient {
    /// `PING`
    public func ping() async throws {
        _ = try await send("PING")
    }

    /// `GET key`: the value, or `nil` when the key does not exist.
    public func get(_ key: String) async throws -> [UInt8]? {
        switch try await send([Array("GET".utf8), Array(key.utf8)]) {
        case .bulkString(let bytes): return bytes
        case .null: return nil
        default: throw StrataError(.redisProtocolViolation, "GET returned an unexpected reply type.")
        }
    }

    /// `GET key` as UTF-8 text.
    public func getString(_ key: String) async throws -> String? {
        try await get(key).map { String(decoding: $0, as: UTF8.self) }
    }

    /// `SET key value [PX ms] [NX|XX]`.
    /// - Returns: Whether the value was set (false when the condition did not hold).
    @discardableResult
    public func set(_ key: String, to value: [UInt8], expiration: Duration? = nil, condition: SetCondition? = nil) async throws -> Bool {
        var arguments = [Array("SET".utf8), Array(key.utf8), value]
        if let expiration {
            let milliseconds = max(1, expiration.milliseconds)
            arguments += [Array("PX".utf8), Array("\(milliseconds)".utf8)]
        }
        switch condition {
        case .ifAbsent: arguments.append(Array("NX".utf8))
        case .ifPresent: arguments.append(Array("XX".utf8))
        case nil: break
        }
        let reply = try await send(arguments)
        if case .null = reply { return false }
        return true
    }

    /// `SET key value …` with UTF-8 text.
    @discardableResult
    public func set(_ key: String, to value: String, expiration: Duration? = nil, condition: SetCondition? = nil) async throws -> Bool {
        try await set(key, to: Array(value.utf8), expiration: expiration, condition: condition)
    }

    /// `MGET key…`: one optional value per key, in order.
    public func mget(_ keys: [String]) async throws -> [[UInt8]?] {
        guard !keys.isEmpty else { return [] }
        guard case .array(let items) = try await send([Array("MGET".utf8)] + keys.map { Array($0.utf8) }) else {
            throw StrataError(.redisProtocolViolation, "MGET returned an unexpected reply type.")
        }
        return items.map { item in
            if case .bulkString(let bytes) = item { return bytes }
            return nil
        }
    }

    /// `DEL key…`: how many keys were removed.
    @discardableResult
    public func delete(_ keys: String...) async throws -> Int {
        try await delete(keys)
    }

    /// `DEL key…`: how many keys were removed.
    @discardableResult
    public func delete(_ keys: [String]) async throws -> Int {
        guard !keys.isEmpty else { return 0 }
        return Int(try await send([Array("DEL".utf8)] + keys.map { Array($0.utf8) }).integer ?? 0)
    }

    /// `INCR key`: the new value.
    public func increment(_ key: String) async throws -> Int64 {
        guard let value = try await send([Array("INCR".utf8), Array(key.utf8)]).integer else {
            throw StrataError(.redisProtocolViolation, "INCR returned an unexpected reply type.")
        }
        return value
    }

    /// `PEXPIRE key ms`: whether the key exists (and now expires).
    @discardableResult
    public func expire(_ key: String, after duration: Duration) async throws -> Bool {
        let milliseconds = max(1, duration.milliseconds)
        return try await send([Array("PEXPIRE".utf8), Array(key.utf8), Array("\(milliseconds)".utf8)]).integer == 1
    }

    /// `PTTL key`: the time to live, `nil` when the key does not exist or has no expiry.
    public func timeToLive(_ key: String) async throws -> Duration? {
        guard let milliseconds = try await send([Array("PTTL".utf8), Array(key.utf8)]).integer, milliseconds >= 0 else { return nil }
        return .milliseconds(milliseconds)
    }

    /// `HSET key field value …`: how many fields were added.
    @discardableResult
    public func hashSet(_ key: String, _ fields: [String: String]) async throws -> Int {
        var arguments = [Array("HSET".utf8), Array(key.utf8)]
        for (field, value) in fields.sorted(by: { $0.key < $1.key }) { arguments += [Array(field.utf8), Array(value.utf8)] }
        return Int(try await send(arguments).integer ?? 0)
    }

    /// `HDEL key field …`: how many fields were removed.
    @discardableResult
    public func hashDelete(_ key: String, _ fields: [String]) async throws -> Int {
        Int(try await send([Array("HDEL".utf8), Array(key.utf8)] + fields.map { Array($0.utf8) }).integer ?? 0)
    }

    /// `HGETALL key`: every field and value (empty when the key does not exist).
    public func hashGetAll(_ key: String) async throws -> [String: String] {
        var result: [String: String] = [:]
        switch try await send([Array("HGETALL".utf8), Array(key.utf8)]) {
        case .map(let pairs):
            for pair in pairs { if let field = pair.key.string, let value = pair.value.string { result[field] = value } }
        case .array(let items):
            for index in stride(from: 0, to: items.count - 1, by: 2) {
                if let field = items[index].string, let value = items[index + 1].string { result[field] = value }
            }
        default:
            throw StrataError(.redisProtocolViolation, "HGETALL returned an unexpected reply type.")
        }
        return result
    }
}

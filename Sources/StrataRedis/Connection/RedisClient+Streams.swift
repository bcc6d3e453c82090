import StrataCore

/// One entry of a Redis stream.
public struct StreamEntry: Sendable, Equatable {
    /// The entry id, `<milliseconds>-<sequence>`.
    public var id: String
    /// The field-value pairs, in the order written.
    public var fields: [(String, String)]

    public init(id: String, fields: [(String, String)]) {
        self.id = id
        self.fields = fields
    }

    /// The value of the first field with this name.
    public subscript(field: String) -> String? {
        fields.first { $0.0 == field }?.1
    }

    public static func == (lhs: StreamEntry, rhs: StreamEntry) -> Bool {
        lhs.id == rhs.id && lhs.fields.elementsEqual(rhs.fields) { $0.0 == $1.0 && $0.1 == $1.1 }
    }
}

extension RedisClient {
    /// `XADD stream [MAXLEN ~ n] * field value …`: appends an entry.
    /// - Parameter approximateMaximumLength: Trims the stream to about this many entries.
    /// - Returns: The new entry's id.
    @discardableResult
    public func streamAdd(_ stream: String, _ fields: [(String, String)], approximateMaximumLength: Int? = nil) async throws -> String {
        var arguments = [Array("XADD".utf8), Array(stream.utf8)]
        if let approximateMaximumLength {
            arguments += [Array("MAXLEN".utf8), Array("~".utf8), Array("\(approximateMaximumLength)".utf8)]
        }
        arguments.append(Array("*".utf8))
        for (field, value) in fields { arguments += [Array(field.utf8), Array(value.utf8)] }
        guard let id = try await send(arguments).string else {
            throw StrataError(.redisProtocolViolation, "XADD returned an unexpected reply type.")
        }
        return id
    }

    /// `XGROUP CREATE stream group id MKSTREAM`, treating an existing group as success.
    /// - Parameter startAt: `$` for new entries only, `0` for the whole stream.
    public func streamCreateGroup(_ stream: String, group: String, startAt: String = "$") async throws {
        do {
            try await send("XGROUP", "CREATE", stream, group, startAt, "MKSTREAM")
        } catch let error as StrataError where error.code == .redisCommandFailed && error.details["reply"] == "BUSYGROUP" {
            return
        }
    }

    /// `XREADGROUP GROUP group consumer COUNT n [BLOCK ms] STREAMS stream >`: new entries for
    /// this consumer (or its pending ones with `id: "0"`).
    ///
    /// - Important: with `block`, Redis holds the connection until an entry arrives or the time
    ///   is up, and commands pipelined behind it on that connection wait too. Give a blocking
    ///   consumer a `RedisClient` of its own (one connection) rather than the shared one.
    public func streamReadGroup(
        _ stream: String,
        group: String,
        consumer: String,
        count: Int = 100,
        block: Duration? = nil,
        id: String = ">"
    ) async throws -> [StreamEntry] {
        var arguments = ["XREADGROUP", "GROUP", group, consumer, "COUNT", "\(count)"]
        var timeout: Duration?
        if let block {
            let milliseconds = max(1, block.milliseconds)
            arguments += ["BLOCK", "\(milliseconds)"]
            timeout = block + configuration.commandTimeout
        }
        arguments += ["STREAMS", stream, id]
        let reply = try await send(arguments.map { Array($0.utf8) }, timeout: timeout)
        switch reply {
        case .null: return []
        case .map(let pairs): return try pairs.first.map { try Self.entries($0.value) } ?? []
        case .array(let streams):
            guard case .array(let pair)? = streams.first, pair.count == 2 else { return [] }
            return try Self.entries(pair[1])
        default: throw StrataError(.redisProtocolViolation, "XREADGROUP returned an unexpected reply type.")
        }
    }

    /// `XACK stream group id…`: how many entries were acknowledged.
    @discardableResult
    public func streamAcknowledge(_ stream: String, group: String, ids: [String]) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return Int(try await send((["XACK", stream, group] + ids).map { Array($0.utf8) }).integer ?? 0)
    }

    /// `XAUTOCLAIM stream group consumer min-idle start COUNT n`: takes over entries other
    /// consumers read but did not acknowledge within `minimumIdle`.
    /// - Returns: The claimed entries and the id to continue from (`0-0` when the scan is done).
    public func streamAutoClaim(
        _ stream: String,
        group: String,
        consumer: String,
        minimumIdle: Duration,
        start: String = "0-0",
        count: Int = 100
    ) async throws -> (entries: [StreamEntry], next: String) {
        let idle = max(0, minimumIdle.milliseconds)
        let reply = try await send(
            ["XAUTOCLAIM", stream, group, consumer, "\(idle)", start, "COUNT", "\(count)"].map { Array($0.utf8) }
        )
        guard case .array(let parts) = reply, parts.count >= 2, let next = parts[0].string else {
            throw StrataError(.redisProtocolViolation, "XAUTOCLAIM returned an unexpected reply type.")
        }
        return (try Self.entries(parts[1]), next)
    }

    /// `XRANGE stream start end COUNT n`: entries by id, oldest first (`-` and `+` are the ends).
    public func streamRange(_ stream: String, from start: String = "-", to end: String = "+", count: Int = 100) async throws -> [StreamEntry] {
        try Self.entries(try await send(["XRANGE", stream, start, end, "COUNT", "\(count)"].map { Array($0.utf8) }))
    }

    /// `XREAD COUNT n [BLOCK ms] STREAMS key… id…`: entries after the given ids, per stream.
    ///
    /// - Important: with `block`, the connection is held until an entry arrives or the time is
    ///   up (see ``streamReadGroup(_:group:consumer:count:block:id:)``): use a client of its own.
    /// - Parameter after: Stream keys and the entry id to read after, for each.
    /// - Returns: The streams that had entries, with their entries.
    public func streamRead(
        after positions: [(stream: String, id: String)],
        count: Int = 100,
        block: Duration? = nil
    ) async throws -> [(
        stream: String, entries: [StreamEntry]
    )] {
        guard !positions.isEmpty else { return [] }
        var arguments = ["XREAD", "COUNT", "\(count)"]
        var timeout: Duration?
        if let block {
            arguments += ["BLOCK", "\(max(1, block.milliseconds))"]
            timeout = block + configuration.commandTimeout
        }
        arguments += ["STREAMS"] + positions.map(\.stream) + positions.map(\.id)
        let reply = try await send(arguments.map { Array($0.utf8) }, timeout: timeout)
        switch reply {
        case .null: return []
        case .map(let pairs):
            return try pairs.compactMap { pair in try pair.key.string.map { ($0, try Self.entries(pair.value)) } }
        case .array(let streams):
            return try streams.compactMap { item in
                guard case .array(let pair) = item, pair.count == 2, let name = pair[0].string else { return nil }
                return (name, try Self.entries(pair[1]))
            }
        default: throw StrataError(.redisProtocolViolation, "XREAD returned an unexpected reply type.")
        }
    }

    /// The id of a stream's newest entry (`XREVRANGE key + - COUNT 1`), or `0-0` when it is
    /// empty or missing.
    public func streamLastEntryID(_ stream: String) async throws -> String {
        let newest = try Self.entries(try await send("XREVRANGE", stream, "+", "-", "COUNT", "1"))
        return newest.first?.id ?? "0-0"
    }

    /// Decodes `[[id, [field, value, …]], …]`; entries deleted while pending come as `[id, nil]`
    /// and are skipped.
    static func entries(_ value: RESPValue) throws -> [StreamEntry] {
        guard case .array(let items) = value else {
            if case .null = value { return [] }
            throw StrataError(.redisProtocolViolation, "A stream reply was not a list of entries.")
        }
        return items.compactMap { item in
            guard case .array(let pair) = item, pair.count == 2, let id = pair[0].string, case .array(let flat) = pair[1] else {
                return nil
            }
            var fields: [(String, String)] = []
            for index in stride(from: 0, to: flat.count - 1, by: 2) {
                if let field = flat[index].string, let value = flat[index + 1].string { fields.append((field, value)) }
            }
            return StreamEntry(id: id, fields: fields)
        }
    }
}

import Crypto
import StrataCore

/// A Lua script run by `EVALSHA`, loaded on demand.
///
/// The script is sent by its SHA-1; when Redis does not know it (`NOSCRIPT`: first use, or after
/// a restart or `SCRIPT FLUSH`) it is loaded with `SCRIPT LOAD` and the call is repeated once.
///
/// ```swift
/// let release = RedisScript("""
///     if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
///     return 0
///     """)
/// let removed = try await redis.run(release, keys: ["lock:job:42"], arguments: [token])
/// ```
public struct RedisScript: Sendable, Hashable {
    /// The Lua source.
    public let source: String
    /// Its SHA-1 in lowercase hex, the name Redis knows it by.
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).map { byte in
            let digits = String(byte, radix: 16)
            return byte < 16 ? "0" + digits : digits
        }.joined()
    }
}

extension RedisClient {
    /// Runs a script with `EVALSHA`, loading it first when Redis does not have it.
    /// - Throws: `redis_command_failed` when the script itself fails; connection errors as usual.
    @discardableResult
    public func run(_ script: RedisScript, keys: [String] = [], arguments: [String] = []) async throws -> RESPValue {
        let call =
            [Array("EVALSHA".utf8), Array(script.sha1.utf8), Array("\(keys.count)".utf8)]
            + keys.map { Array($0.utf8) } + arguments.map { Array($0.utf8) }
        do {
            return try await send(call)
        } catch let error as StrataError where error.code == .redisCommandFailed && error.details["reply"] == "NOSCRIPT" {
            let loaded = try await send([Array("SCRIPT".utf8), Array("LOAD".utf8), Array(script.source.utf8)])
            guard loaded.string == script.sha1 else {
                throw StrataError(.redisProtocolViolation, "SCRIPT LOAD answered a different SHA-1 than expected.")
            }
            return try await send(call)
        }
    }
}

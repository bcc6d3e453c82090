import Crypto
import StrataCore

/// A Lua script run by `EVALSHA`, loaded on demand.
///
/// The script is sent by its SHA-1; when Redis does not know it (`NOSCRIPT`: first use, or after
/// a restart or `SCRIPT FLUSH`) it is sent once with `EVAL` and its source, which runs it and
/// caches it for the next `EVALSHA` (without the window that `SCRIPT LOAD` + retry would leave).
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
            // EVAL with the source runs it in one round trip and caches it for later EVALSHAs;
            // SCRIPT LOAD then EVALSHA would leave a window for another flush in between.
            let evaluate =
                [Array("EVAL".utf8), Array(script.source.utf8), Array("\(keys.count)".utf8)]
                + keys.map { Array($0.utf8) } + arguments.map { Array($0.utf8) }
            return try await send(evaluate)
        }
    }
}

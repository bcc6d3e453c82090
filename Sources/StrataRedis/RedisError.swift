public import StrataCore

extension StrataError.Code {
    /// Redis cannot be reached (or the circuit breaker is open); the hot layer is bypassed.
    public static let redisUnavailable = Self("redis_unavailable", kind: .unavailable)
    /// A Redis command took longer than the command timeout.
    public static let redisTimeout = Self("redis_timeout", kind: .timeout)
    /// Redis answered a command with an error reply.
    public static let redisCommandFailed = Self("redis_command_failed", kind: .internal)
    /// Redis sent bytes that are not valid RESP, or a reply nobody asked for.
    public static let redisProtocolViolation = Self("redis_protocol_violation", kind: .internal)
}

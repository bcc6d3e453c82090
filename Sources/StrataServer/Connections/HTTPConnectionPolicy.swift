public import StrataCore

/// How the HTTP server bounds its connections: how long a client may take to send a request's
/// head, how long it may pause between body bytes, how long an idle keep-alive connection stays
/// open, and how many connections may be open at once.
///
/// The defaults follow the usual field values: Apache's `mod_reqtimeout` (20 s for the head,
/// 20 s between body reads) and nginx's `keepalive_timeout` (75 s, above the 60 s idle timeout
/// of common load balancers, so that they close first).
public struct HTTPConnectionPolicy: Sendable, Equatable {
    /// `HTTP_HEADER_TIMEOUT`: from a new connection, or from the first byte of a request on a
    /// kept-alive one, until the request's head is complete. A client that is still sending
    /// its head then gets `408` and the connection is closed; a silent one is closed.
    public var headerTimeout: Duration
    /// `HTTP_BODY_TIMEOUT`: the longest pause between two parts of a request body (`408`).
    public var bodyTimeout: Duration
    /// `HTTP_KEEPALIVE_TIMEOUT`: how long a connection may sit idle between requests.
    public var keepAliveTimeout: Duration
    /// `HTTP_MAX_CONNECTIONS`: open connections beyond this are closed as soon as they are
    /// accepted, before anything is read from them.
    public var maxConnections: Int
    /// How long a connection accepted during shutdown, before its request arrived, is given to
    /// send it (bounded by ``headerTimeout``).
    public var drainAllowance: Duration

    public init(
        headerTimeout: Duration = .seconds(20),
        bodyTimeout: Duration = .seconds(20),
        keepAliveTimeout: Duration = .seconds(75),
        maxConnections: Int = 10_000,
        drainAllowance: Duration = .seconds(2)
    ) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.keepAliveTimeout = keepAliveTimeout
        self.maxConnections = maxConnections
        self.drainAllowance = drainAllowance
    }

    /// Reads `HTTP_HEADER_TIMEOUT`, `HTTP_BODY_TIMEOUT`, `HTTP_KEEPALIVE_TIMEOUT` and
    /// `HTTP_MAX_CONNECTIONS`.
    /// - Throws: `invalid_configuration` naming the first bad variable.
    public init(environment: EnvironmentReader) throws {
        let defaults = HTTPConnectionPolicy()
        self.init(
            headerTimeout: try environment.duration("HTTP_HEADER_TIMEOUT", default: defaults.headerTimeout, in: .milliseconds(10) ... .seconds(3600)),
            bodyTimeout: try environment.duration("HTTP_BODY_TIMEOUT", default: defaults.bodyTimeout, in: .milliseconds(10) ... .seconds(3600)),
            keepAliveTimeout: try environment.duration(
                "HTTP_KEEPALIVE_TIMEOUT",
                default: defaults.keepAliveTimeout,
                in: .milliseconds(10) ... .seconds(3600)
            ),
            maxConnections: try environment.int("HTTP_MAX_CONNECTIONS", default: defaults.maxConnections, in: 1...1_000_000)
        )
    }
}

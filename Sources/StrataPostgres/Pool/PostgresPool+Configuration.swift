public import StrataCore

extension PostgresPool {
    /// How the pool sizes, times out and recycles its connections.
    ///
    /// Read from the environment by ``init(environment:)``:
    ///
    /// | variable | type | default | meaning |
    /// |---|---|---|---|
    /// | `DB_POOL_SIZE` | integer 1...1000 | 10 | connections kept open (warm) |
    /// | `DB_MAX_OVERFLOW` | integer 0...1000 | 20 | extra connections opened under load |
    /// | `DB_POOL_TIMEOUT` | duration | 30 s | longest wait for a connection to come free, then `database_busy` |
    /// | `DB_POOL_RECYCLE` | duration, 0 = never | 1800 s | connections older than this are closed after use |
    /// | `DB_ECHO` | boolean | false | log every statement (with its binds) at info level |
    /// | `DB_STATEMENT_TIMEOUT` | duration, 0 = none | 30 s | server-side `statement_timeout` |
    /// | `DB_CONNECT_TIMEOUT` | duration | 10 s | longest wait to open one connection, then `database_unavailable` |
    public struct Configuration: Sendable {
        /// Connections kept open even when idle.
        public var poolSize: Int
        /// Connections that may be opened beyond ``poolSize`` under load.
        public var maxOverflow: Int
        /// The longest wait for a free connection before `database_busy`.
        public var acquireTimeout: Duration
        /// Connections older than this are closed when returned; `nil` keeps them forever.
        public var recycleAfter: Duration?
        /// Whether every statement is logged.
        public var echo: Bool
        /// The server-side statement timeout; `nil` for none.
        public var statementTimeout: Duration?
        /// The longest wait to open one connection.
        public var connectTimeout: Duration
        /// Shown in `pg_stat_activity.application_name`.
        public var applicationName: String
        /// The `search_path` set at connect time; `nil` keeps the server default. Tests use `""`
        /// so that unqualified table names fail.
        public var searchPath: String?

        /// Creates a configuration; every argument has the documented default.
        public init(
            poolSize: Int = 10,
            maxOverflow: Int = 20,
            acquireTimeout: Duration = .seconds(30),
            recycleAfter: Duration? = .seconds(1800),
            echo: Bool = false,
            statementTimeout: Duration? = .seconds(30),
            connectTimeout: Duration = .seconds(10),
            applicationName: String = "strata",
            searchPath: String? = nil
        ) {
            self.poolSize = poolSize
            self.maxOverflow = maxOverflow
            self.acquireTimeout = acquireTimeout
            self.recycleAfter = recycleAfter
            self.echo = echo
            self.statementTimeout = statementTimeout
            self.connectTimeout = connectTimeout
            self.applicationName = applicationName
            self.searchPath = searchPath
        }

        /// The most connections the pool opens: ``poolSize`` + ``maxOverflow``.
        public var maximumConnections: Int { poolSize + maxOverflow }

        /// Reads the variables listed on the type.
        /// - Throws: `invalid_configuration` naming the first bad variable.
        public init(environment: EnvironmentReader) throws {
            let recycle = try environment.duration("DB_POOL_RECYCLE", default: .seconds(1800))
            let statement = try environment.duration("DB_STATEMENT_TIMEOUT", default: .seconds(30))
            self.init(
                poolSize: try environment.int("DB_POOL_SIZE", default: 10, in: 1...1000),
                maxOverflow: try environment.int("DB_MAX_OVERFLOW", default: 20, in: 0...1000),
                acquireTimeout: try environment.duration("DB_POOL_TIMEOUT", default: .seconds(30), in: .milliseconds(1) ... .seconds(3600)),
                recycleAfter: recycle == .zero ? nil : recycle,
                echo: try environment.bool("DB_ECHO", default: false),
                statementTimeout: statement == .zero ? nil : statement,
                connectTimeout: try environment.duration("DB_CONNECT_TIMEOUT", default: .seconds(10), in: .milliseconds(100) ... .seconds(600))
            )
        }
    }
}

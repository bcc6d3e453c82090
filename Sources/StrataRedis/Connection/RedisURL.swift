import StrataCore

/// Where Redis is: `redis://[user:password@]host[:port][/db]` or
/// `unix://[user:password@]/path/to/redis.sock[?db=N]`.
///
/// ``description`` never shows the password.
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    /// A TCP host and port, or a Unix socket path.
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public var address: Address
    public var username: String?
    public var password: String?
    public var database: Int

    public init(address: Address, username: String? = nil, password: String? = nil, database: Int = 0) {
        self.address = address
        self.username = username
        self.password = password
        self.database = database
    }

    /// Parses a URL.
    /// - Throws: `invalid_configuration` naming `variable`, never echoing the URL.
    public init(parsing text: String, variable: String = "REDIS_URL") throws {
        func fail(_ why: String) -> StrataError {
            StrataError(
                .invalidConfiguration,
                "\(variable): \(why) (expected redis://[user:password@]host:port/db or unix:///path/to/redis.sock?db=N)",
                details: ["variable": variable]
            )
        }
        var rest = Substring(text)
        let isUnix: Bool
        if rest.hasPrefix("redis://") {
            rest = rest.dropFirst("redis://".count)
            isUnix = false
        } else if rest.hasPrefix("unix://") {
            rest = rest.dropFirst("unix://".count)
            isUnix = true
        } else {
            throw fail(text.hasPrefix("rediss://") ? "TLS (rediss://) is not supported yet" : "the scheme must be redis:// or unix://")
        }
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = credentials[..<colon]
                username = user.isEmpty ? nil : String(user)
                password = String(credentials[credentials.index(after: colon)...])
            } else if !credentials.isEmpty {
                password = String(credentials)
            }
        }
        var database = 0
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0] == "db", let number = Int(parts[1]), (0...15).contains(number) else {
                throw fail("the only parameter is db=0...15")
            }
            database = number
        }
        if isUnix {
            guard rest.hasPrefix("/"), rest.count > 1 else { throw fail("the socket path must be absolute") }
            self.init(address: .unix(path: String(rest)), username: username, password: password, database: database)
            return
        }
        var hostPort = rest
        if let slash = rest.firstIndex(of: "/") {
            hostPort = rest[..<slash]
            let path = rest[rest.index(after: slash)...]
            if !path.isEmpty {
                guard let number = Int(path), (0...15).contains(number) else { throw fail("the database must be a number in 0...15") }
                database = number
            }
        }
        var host = hostPort.isEmpty ? "127.0.0.1" : String(hostPort)
        var port = 6379
        if let colon = hostPort.lastIndex(of: ":") {
            guard let number = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(number) else {
                throw fail("the port must be a number in 1...65535")
            }
            port = number
            host = String(hostPort[..<colon])
        }
        self.init(address: .tcp(host: host, port: port), username: username, password: password, database: database)
    }

    public var description: String {
        let credentials =
            switch (username, password) {
            case (let user?, _?): "\(user):***@"
            case (nil, _?): ":***@"
            case (let user?, nil): "\(user)@"
            case (nil, nil): ""
            }
        switch address {
        case .tcp(let host, let port): return "redis://\(credentials)\(host):\(port)/\(database)"
        case .unix(let path): return "unix://\(credentials)\(path)?db=\(database)"
        }
    }
}

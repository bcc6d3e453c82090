import Foundation

/// A PostgreSQL connection URL: `postgres://user:password@host:port/database?sslmode=…`.
///
/// Accepts the `postgres` and `postgresql` schemes, percent-encoded user, password and
/// database, an optional port (default 5432), `sslmode` (`disable`, `prefer`, `require`;
/// default `prefer`) and a Unix socket given as `?host=/path/to/socket/dir`.
///
/// ``description`` never shows the password: `postgres://app:***@db:5432/app`.
public struct DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    /// How to use TLS.
    public enum TLSMode: String, Sendable, CaseIterable {
        case disable, prefer, require
    }

    public var username: String
    public var password: String?
    /// The TCP host; `nil` when ``socketDirectory`` is set.
    public var host: String?
    public var port: Int
    /// The directory holding the server's Unix socket, if the URL asks for one.
    public var socketDirectory: String?
    public var database: String
    public var tls: TLSMode

    /// Creates a URL from its parts.
    public init(
        username: String,
        password: String? = nil,
        host: String? = "127.0.0.1",
        port: Int = 5432,
        socketDirectory: String? = nil,
        database: String,
        tls: TLSMode = .disable
    ) {
        self.username = username
        self.password = password
        self.host = host
        self.port = port
        self.socketDirectory = socketDirectory
        self.database = database
        self.tls = tls
    }

    /// The full path of the server's Unix socket file, when connecting through one.
    public var socketPath: String? {
        socketDirectory.map { "\($0)/.s.PGSQL.\(port)" }
    }

    /// Parses a URL.
    /// - Parameter variable: The configuration variable it came from, named in errors.
    /// - Throws: `invalid_configuration` naming `variable`; the URL itself is never echoed.
    public init(parsing text: String, variable: String = "DATABASE_URL") throws {
        func fail(_ why: String) -> StrataError {
            StrataError(
                .invalidConfiguration,
                "\(variable): \(why) (expected postgres://user:password@host:port/database)",
                details: ["variable": variable]
            )
        }
        var rest = Substring(text)
        if rest.hasPrefix("postgres://") {
            rest = rest.dropFirst("postgres://".count)
        } else if rest.hasPrefix("postgresql://") {
            rest = rest.dropFirst("postgresql://".count)
        } else {
            throw fail("the scheme must be postgres:// or postgresql://")
        }
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var userInfo: Substring?
        if let at = rest.lastIndex(of: "@") {
            userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }
        var user = "postgres"
        var password: String?
        if let userInfo {
            if let colon = userInfo.firstIndex(of: ":") {
                guard let u = Self.percentDecode(userInfo[..<colon]),
                    let p = Self.percentDecode(userInfo[userInfo.index(after: colon)...])
                else { throw fail("the user or password is not valid percent-encoding") }
                user = u
                password = p
            } else {
                guard let u = Self.percentDecode(userInfo) else { throw fail("the user is not valid percent-encoding") }
                user = u
            }
        }
        var host: String? = nil
        var port = 5432
        if !rest.isEmpty {
            var hostPart = rest
            if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
                guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                    throw fail("the port must be a number in 1...65535")
                }
                port = p
                hostPart = rest[..<colon]
            }
            if hostPart.hasPrefix("[") && hostPart.hasSuffix("]") { hostPart = hostPart.dropFirst().dropLast() }
            host = hostPart.isEmpty ? nil : String(hostPart)
        }
        guard let database = Self.percentDecode(path) else { throw fail("the database name is not valid percent-encoding") }
        var tls = TLSMode.prefer
        var socketDirectory: String?
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1)
            let key = String(parts[0])
            let value = parts.count > 1 ? Self.percentDecode(parts[1]) : ""
            guard let value else { throw fail("the parameter \(key) is not valid percent-encoding") }
            switch key {
            case "sslmode":
                switch value {
                case "disable", "allow": tls = .disable
                case "prefer": tls = .prefer
                case "require", "verify-ca", "verify-full": tls = .require
                default: throw fail("sslmode must be disable, prefer or require")
                }
            case "host":
                guard value.hasPrefix("/") else { throw fail("the host parameter must be a socket directory") }
                socketDirectory = value
            case "application_name", "connect_timeout":
                continue
            default:
                throw fail("the parameter \(key) is not supported")
            }
        }
        if host == nil && socketDirectory == nil { host = "localhost" }
        self.init(
            username: user,
            password: password,
            host: socketDirectory == nil ? host : nil,
            port: port,
            socketDirectory: socketDirectory,
            database: database.isEmpty ? user : database,
            tls: tls
        )
    }

    /// `host:port/database` or `socket-dir:port/database`, with no credentials.
    public var endpointDescription: String {
        "\(socketDirectory ?? host ?? "localhost"):\(port)/\(database)"
    }

    /// The URL with the password replaced by `***`.
    public var description: String {
        let credentials = password == nil ? username : "\(username):***"
        if let socketDirectory {
            return "postgres://\(credentials)@:\(port)/\(database)?host=\(socketDirectory)"
        }
        return "postgres://\(credentials)@\(host ?? "localhost"):\(port)/\(database)?sslmode=\(tls.rawValue)"
    }

    /// The URL with its password, percent-encoded: what a child process is handed in its
    /// environment (`DATABASE_URL`). Never log it; ``description`` is for logs.
    public var revealedURL: String {
        func encode(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
        }
        let credentials = password.map { "\(encode(username)):\(encode($0))" } ?? encode(username)
        if let socketDirectory {
            return "postgres://\(credentials)@:\(port)/\(encode(database))?host=\(encode(socketDirectory))"
        }
        return "postgres://\(credentials)@\(host ?? "localhost"):\(port)/\(encode(database))?sslmode=\(tls.rawValue)"
    }

    /// The same server, another database.
    public func with(database: String) -> DatabaseURL {
        var copy = self
        copy.database = database
        return copy
    }

    static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                    let h = hexValue(high), let l = hexValue(low)
                else { return nil }
                bytes.append(h << 4 | l)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

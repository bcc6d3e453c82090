import Logging
import NIOSSL
public import PostgresNIO
import StrataCore

extension PostgresPool {
    /// Listens on a notification channel over a connection of its own (outside the pool, so a
    /// long-lived listener never takes a connection from callers), for the closure's lifetime.
    ///
    /// ```swift
    /// try await pool.listen(on: "strata_outbox") { notifications in
    ///     for try await _ in notifications { doorbell.ring() }
    /// }
    /// ```
    /// - Throws: `database_unavailable` when the connection cannot be opened; the closure's errors.
    public func listen<Result: Sendable>(
        on channel: String,
        consume: (PostgresNotificationSequence) async throws -> Result
    ) async throws -> Result {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                configuration: try dedicatedConnectionConfiguration(),
                id: Int.random(in: 1_000_000..<Int.max),
                logger: logger
            )
        } catch {
            throw StrataError(
                .databaseUnavailable,
                "Cannot open a listening connection to \(url.endpointDescription); retrying.",
                underlying: error
            )
        }
        do {
            try connection.checkOpen()  // postgres-nio never answers a LISTEN on a closed connection
            let result = try await connection.listen(on: channel, consume: consume)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw StrataError.fromPostgres(error)
        }
    }

    func dedicatedConnectionConfiguration() throws -> PostgresConnection.Configuration {
        var configuration = try Self.connectionConfiguration(url: url, connectTimeout: self.configuration.connectTimeout)
        configuration.options.additionalStartupParameters = [("application_name", self.configuration.applicationName + "-listener")]
        return configuration
    }

    /// How to reach `url`: socket or TCP, with its TLS mode.
    static func connectionConfiguration(url: DatabaseURL, connectTimeout: Duration) throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if let socketPath = url.socketPath {
            configuration = .init(unixSocketPath: socketPath, username: url.username, password: url.password, database: url.database)
        } else {
            let tls: PostgresConnection.Configuration.TLS =
                switch url.tls {
                case .disable: .disable
                case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
                case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                }
            configuration = .init(
                host: url.host ?? "localhost",
                port: url.port,
                username: url.username,
                password: url.password,
                database: url.database,
                tls: tls
            )
        }
        configuration.options.connectTimeout = .nanoseconds(connectTimeout.nanoseconds)
        return configuration
    }
}

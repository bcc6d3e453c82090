import Crypto
import Foundation
import PostgresNIO
import StrataCore

/// `strata.idempotency_keys`: reserve a key for a request, remember its response, replay it.
public struct IdempotencyStore: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Who, where and what: the scope of one key.
    public struct Scope: Sendable, Equatable {
        public var principal: String
        public var route: String
        public var key: String

        public init(principal: String, route: String, key: String) {
            self.principal = principal
            self.route = route
            self.key = key
        }
    }

    /// A remembered response.
    public struct StoredResponse: Sendable, Equatable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]

        public init(status: Int, headers: [String: String], body: [UInt8]) {
            self.status = status
            self.headers = headers
            self.body = body
        }
    }

    /// What to do with a request carrying a key.
    public enum Outcome: Sendable, Equatable {
        /// First time (or the first attempt died): run it, then ``complete(_:with:)``.
        case proceed
        /// Seen and answered: send this again.
        case replay(StoredResponse)
    }

    /// The SHA-256 of what a request asks besides its route: its query string, its
    /// `Content-Type` and its body (a retry must repeat all three).
    public static func fingerprint(query: String?, contentType: String?, body: some Sequence<UInt8>) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: Array((query ?? "").utf8) + [0] + Array((contentType ?? "").utf8) + [0])
        hasher.update(data: Array(body))
        return Array(hasher.finalize())
    }

    /// Reserves the key for this request, or says how it was answered.
    /// - Throws: `idempotency_key_reused` (422) when the key came with a different request (query, Content-Type or body);
    ///   `idempotency_in_flight` (409) while the first request is still running.
    public func begin(_ scope: Scope, fingerprint: [UInt8]) async throws -> Outcome {
        try await pool.withTransaction { connection in
            let logger = pool.statementLogger
            try await connection.query(
                """
                DELETE FROM strata.idempotency_keys
                WHERE principal = \(scope.principal) AND route = \(scope.route) AND key = \(scope.key) AND expires_at < now()
                """,
                logger: logger
            )
            let inserted = try await connection.query(
                """
                INSERT INTO strata.idempotency_keys (principal, route, key, fingerprint)
                VALUES (\(scope.principal), \(scope.route), \(scope.key), \(Data(fingerprint)))
                ON CONFLICT DO NOTHING RETURNING 1
                """,
                logger: logger
            ).collect()
            if !inserted.isEmpty { return .proceed }
            let rows = try await connection.query(
                """
                SELECT fingerprint, state, locked_until < now(), status, headers::text, body
                FROM strata.idempotency_keys
                WHERE principal = \(scope.principal) AND route = \(scope.route) AND key = \(scope.key)
                FOR UPDATE
                """,
                logger: logger
            ).collect()
            guard let row = rows.first else { return .proceed }  // expired and removed in between
            let (stored, state, stale, status, headers, body) = try row.decode((Data, String, Bool, Int16?, String?, Data?).self)
            guard Array(stored) == fingerprint else {
                throw StrataError(
                    .idempotencyKeyReused,
                    "This Idempotency-Key was used with a different request; use a new key for a new request."
                )
            }
            if state == "done", let status {
                let decoded = headers.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:]
                return .replay(StoredResponse(status: Int(status), headers: decoded, body: Array(body ?? Data())))
            }
            guard stale else {
                throw StrataError(.idempotencyInFlight, "A request with this Idempotency-Key is still being processed; retry shortly.")
            }
            // The first attempt's server died mid-request: this one takes over.
            try await connection.query(
                """
                UPDATE strata.idempotency_keys SET locked_until = now() + interval '60 seconds'
                WHERE principal = \(scope.principal) AND route = \(scope.route) AND key = \(scope.key)
                """,
                logger: logger
            )
            return .proceed
        }
    }

    /// Remembers the response of a reserved key.
    public func complete(_ scope: Scope, with response: StoredResponse) async throws {
        let headers = String(decoding: try JSONEncoder().encode(response.headers), as: UTF8.self)
        try await pool.query(
            """
            UPDATE strata.idempotency_keys
            SET state = 'done', status = \(Int16(response.status)), headers = \(headers)::jsonb, body = \(Data(response.body))
            WHERE principal = \(scope.principal) AND route = \(scope.route) AND key = \(scope.key)
            """
        )
    }

    /// Releases a reserved key without a response (the request failed), so a retry runs again.
    public func abandon(_ scope: Scope) async throws {
        try await pool.query(
            """
            DELETE FROM strata.idempotency_keys
            WHERE principal = \(scope.principal) AND route = \(scope.route) AND key = \(scope.key) AND state = 'in_flight'
            """
        )
    }

    /// Removes expired keys, at most `limit`.
    @discardableResult
    public func deleteExpired(limit: Int = 1000) async throws -> Int {
        let rows = try await pool.query(
            """
            WITH doomed AS (SELECT principal, route, key FROM strata.idempotency_keys WHERE expires_at < now() LIMIT \(limit)),
            deleted AS (
                DELETE FROM strata.idempotency_keys AS k USING doomed AS d
                WHERE k.principal = d.principal AND k.route = d.route AND k.key = d.key RETURNING 1
            )
            SELECT count(*) FROM deleted
            """
        )
        return Int(try rows.first?.decode(Int64.self) ?? 0)
    }
}

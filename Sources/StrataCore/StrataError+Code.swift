extension StrataError {
    /// A stable error code such as `"conflict"` or `"helpdesk.ticket_not_found"`.
    ///
    /// Codes are strings so that modules can add their own without touching this file:
    ///
    /// ```swift
    /// extension StrataError.Code {
    ///     public static let ticketNotFound = Self("helpdesk.ticket_not_found", kind: .notFound)
    /// }
    /// ```
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable identifier, part of the public API once shipped.
        public let rawValue: String
        /// The broad class of the error, which decides its HTTP status and retry behaviour.
        public let kind: Kind

        /// Creates a code.
        /// - Parameters:
        ///   - rawValue: The stable identifier (lowercase, dot-separated namespace, snake_case).
        ///   - kind: The broad class.
        public init(_ rawValue: String, kind: Kind) {
            self.rawValue = rawValue
            self.kind = kind
        }

        public var description: String { rawValue }

        public static func == (lhs: Code, rhs: Code) -> Bool { lhs.rawValue == rhs.rawValue }
        public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

        /// Whether repeating the same operation later may succeed.
        public var isRetryable: Bool { kind == .unavailable || kind == .transient }
    }

    /// The broad class of an error code.
    public enum Kind: String, Sendable {
        /// The input breaks a rule (HTTP 422).
        case invalidInput
        /// The request cannot be read as sent: malformed JSON, an unreadable line (HTTP 400).
        case unreadableInput
        /// The thing asked for does not exist (HTTP 404).
        case notFound
        /// The change collides with the current state (HTTP 409).
        case conflict
        /// The thing existed but was removed for good, e.g. by retention (HTTP 410).
        case gone
        /// A precondition such as `If-Match` failed (HTTP 412).
        case preconditionFailed
        /// A required precondition header such as `If-Match` is missing (HTTP 428).
        case preconditionRequired
        /// The body is larger than allowed (HTTP 413).
        case tooLarge
        /// The media type is not accepted (HTTP 415).
        case unsupportedMediaType
        /// The path exists but not with this method (HTTP 405).
        case methodNotAllowed
        /// The caller is not authenticated (HTTP 401).
        case unauthenticated
        /// The caller may not do this (HTTP 403).
        case forbidden
        /// The caller sent too many requests; retry after the time given (HTTP 429).
        case rateLimited
        /// A dependency is busy or down; retry later (HTTP 503).
        case unavailable
        /// A concurrency conflict that a retry usually resolves (HTTP 503 after retries).
        case transient
        /// The operation took too long (HTTP 504).
        case timeout
        /// The process is misconfigured; it stops at start (no HTTP status).
        case configuration
        /// A bug or an unexpected failure (HTTP 500).
        case `internal`
    }
}

extension StrataError.Code {
    // MARK: Input

    /// A request body is not well-formed JSON or does not match the expected shape.
    public static let malformedBody = Self("malformed_body", kind: .unreadableInput)
    /// A value breaks a rule (length, range, allowed set, check constraint).
    public static let invalidValue = Self("invalid_value", kind: .invalidInput)
    /// One or more fields are not valid; the error lists them (`fieldErrors`).
    public static let validationFailed = Self("validation_failed", kind: .invalidInput)
    /// A value refers to something that does not exist (foreign key violation).
    public static let invalidReference = Self("invalid_reference", kind: .invalidInput)
    /// A required value is missing (not-null violation).
    public static let missingValue = Self("missing_value", kind: .invalidInput)
    /// The request body is larger than the configured limit.
    public static let payloadTooLarge = Self("payload_too_large", kind: .tooLarge)
    /// The request's `Content-Type` is not one the endpoint accepts.
    public static let unsupportedMediaType = Self("unsupported_media_type", kind: .unsupportedMediaType)

    // MARK: State

    /// The resource does not exist.
    public static let notFound = Self("not_found", kind: .notFound)
    /// No route matches the request's path.
    public static let routeNotFound = Self("route_not_found", kind: .notFound)
    /// The path exists, but not with the request's method (`details["allow"]` lists the methods).
    public static let methodNotAllowed = Self("method_not_allowed", kind: .methodNotAllowed)
    /// The change collides with existing data (unique or exclusion violation).
    public static let conflict = Self("conflict", kind: .conflict)
    /// The thing existed but was removed for good (retention).
    public static let gone = Self("gone", kind: .gone)
    /// A status change the resource's state machine does not allow (409), with the current
    /// status and the allowed next states (``StatusMachine``).
    public static let transitionRefused = Self("transition_refused", kind: .conflict)

    // MARK: Request conventions

    /// `If-Match` names a version that is no longer current (someone else changed the resource).
    public static let preconditionFailed = Self("precondition_failed", kind: .preconditionFailed)
    /// The update or delete needs `If-Match` with the resource's ETag.
    public static let preconditionRequired = Self("precondition_required", kind: .preconditionRequired)
    /// An `Idempotency-Key` was used before with a different request.
    public static let idempotencyKeyReused = Self("idempotency_key_reused", kind: .invalidInput)
    /// The first request with this `Idempotency-Key` is still being processed.
    public static let idempotencyInFlight = Self("idempotency_in_flight", kind: .conflict)

    // MARK: Identity

    /// No credentials, or credentials that are invalid, expired or revoked.
    public static let unauthenticated = Self("unauthenticated", kind: .unauthenticated)
    /// The caller's permissions or scope do not allow this.
    public static let forbidden = Self("forbidden", kind: .forbidden)
    /// The caller's request budget is spent; `details["retry_after_s"]` says when to retry.
    public static let rateLimited = Self("rate_limited", kind: .rateLimited)

    // MARK: Availability

    /// No database connection became free within the pool timeout.
    public static let databaseBusy = Self("database_busy", kind: .unavailable)
    /// The database cannot be reached.
    public static let databaseUnavailable = Self("database_unavailable", kind: .unavailable)
    /// Object storage (the object folder or the S3 endpoint) failed or refused the request.
    public static let storageUnavailable = Self("storage_unavailable", kind: .unavailable)
    /// A serialization failure or deadlock that persisted after the bounded retries.
    public static let concurrentUpdate = Self("concurrent_update", kind: .transient)
    /// A statement ran past the statement timeout.
    public static let statementTimeout = Self("statement_timeout", kind: .timeout)
    /// The service is not ready to take traffic (starting, migrating or shutting down).
    public static let notReady = Self("not_ready", kind: .unavailable)

    // MARK: Operations

    /// A configuration value is missing or out of range.
    public static let invalidConfiguration = Self("invalid_configuration", kind: .configuration)
    /// A required program (PostgreSQL server binaries, redis-server …) is not installed.
    public static let dependencyMissing = Self("dependency_missing", kind: .configuration)
    /// A managed server (embedded PostgreSQL …) could not be started or stopped.
    public static let serverStartFailed = Self("server_start_failed", kind: .unavailable)
    /// A migration failed; the message names the file and the database's message.
    public static let migrationFailed = Self("migration_failed", kind: .internal)
    /// A backup, restore or verification tool (`pg_dump`, `pg_restore`) failed or refused.
    public static let backupFailed = Self("backup_failed", kind: .internal)
    /// An applied migration file was edited after it was applied.
    public static let migrationChecksumMismatch = Self("migration_checksum_mismatch", kind: .conflict)
    /// A pending migration is numbered below one already applied.
    public static let migrationOutOfOrder = Self("migration_out_of_order", kind: .conflict)
    /// The database holds migrations this build does not know (it is older than the database).
    public static let migrationUnknown = Self("migration_unknown", kind: .conflict)
    /// Another migrator held the migration lock for longer than the wait allowed.
    public static let migrationLockTimeout = Self("migration_lock_timeout", kind: .unavailable)
    /// A migration file is not named `NNNN_name.sql` or is otherwise unusable.
    public static let migrationInvalid = Self("migration_invalid", kind: .internal)

    // MARK: Other

    /// The database rejected the statement for a reason with no more specific code.
    public static let databaseError = Self("database_error", kind: .internal)
    /// An unexpected failure; details are in the server log under the request id.
    public static let internalError = Self("internal_error", kind: .internal)
}

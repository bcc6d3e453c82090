public import Foundation

/// A job to enqueue.
///
/// ```swift
/// try await pool.withTransaction { connection in
///     try await repository.insert(order, on: connection)
///     try await JobQueue().enqueue(NewJob(kind: "email.order_confirmation", args: #"{"order": 42}"#), on: connection, logger: logger)
/// }
/// ```
public struct NewJob: Sendable, Equatable {
    /// The worker queue (`default`, `webhooks`, `simjobs.gpu` …).
    public var queue: String
    /// What to do: the handler's name.
    public var kind: String
    /// The handler's input, JSON text.
    public var argsJSON: String
    /// 0 (critical) to 3 (low).
    public var priority: Int
    /// Not before this time (default: now).
    public var runAt: Date?
    public var maxAttempts: Int
    /// At most one live (available or running) job per queue, kind and key.
    public var uniqueKey: String?

    public init(
        queue: String = "default",
        kind: String,
        argsJSON: String = "{}",
        priority: Int = 2,
        runAt: Date? = nil,
        maxAttempts: Int = 10,
        uniqueKey: String? = nil
    ) {
        self.queue = queue
        self.kind = kind
        self.argsJSON = argsJSON
        self.priority = priority
        self.runAt = runAt
        self.maxAttempts = maxAttempts
        self.uniqueKey = uniqueKey
    }
}

/// A job a worker holds: its lease token guards every change the worker makes.
public struct ClaimedJob: Sendable, Equatable {
    public var id: Int64
    public var queue: String
    public var kind: String
    public var argsJSON: String
    public var priority: Int
    /// This attempt's number (1 for the first).
    public var attempt: Int
    public var maxAttempts: Int
    public var leaseToken: UUID

    /// A claimed job as its holder names it in later reports (its id and lease token), for a
    /// worker that holds the lease in another process (a worker protocol over HTTP): the lease
    /// guards are the id and the token; the other fields are not read by them.
    public init(id: Int64, queue: String, kind: String, leaseToken: UUID) {
        self.init(id: id, queue: queue, kind: kind, argsJSON: "{}", priority: 2, attempt: 1, maxAttempts: 1, leaseToken: leaseToken)
    }

    init(id: Int64, queue: String, kind: String, argsJSON: String, priority: Int, attempt: Int, maxAttempts: Int, leaseToken: UUID) {
        self.id = id
        self.queue = queue
        self.kind = kind
        self.argsJSON = argsJSON
        self.priority = priority
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.leaseToken = leaseToken
    }
}

/// A job whose lease expired, as the rescue left it: `available` again (attempts left) or
/// `discarded`.
public struct RescuedJob: Sendable, Equatable {
    public var id: Int64
    public var queue: String
    public var kind: String
    public var argsJSON: String
    public var state: JobState
}

/// A job's state.
public enum JobState: String, Sendable, CaseIterable {
    /// Waiting for its `run_at` and a worker (also between retries).
    case available
    /// Leased by a worker.
    case running
    case completed
    /// Cancelled before it finished.
    case cancelled
    /// Failed every attempt; kept for inspection.
    case discarded
}

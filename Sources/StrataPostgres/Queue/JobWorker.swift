public import Foundation
public import Logging
import Metrics
public import PostgresNIO
public import ServiceLifecycle
import StrataCore
import Synchronization

/// What a handler gets: the job, and a way to see whether it was cancelled.
public struct JobContext: Sendable {
    public let job: ClaimedJob
    let cancellation: Latch
    /// Whether cancellation was requested (seen at the last heartbeat): stop as soon as you can
    /// and throw ``JobCancelled``.
    public var isCancellationRequested: Bool { cancellation.isSet }
}

/// Thrown by a handler that stopped because its job was cancelled.
public struct JobCancelled: Error {
    public init() {}
}

/// Thrown by a handler whose job can never succeed (its input is refused): the job is discarded
/// at once, with the reason in its errors, instead of being retried.
public struct JobFailedPermanently: Error, CustomStringConvertible {
    public let reason: any Error
    public init(_ reason: any Error) { self.reason = reason }
    public var description: String { "\(reason)" }
}

/// Runs a job; throwing fails the attempt (retried with backoff).
public typealias JobHandler = @Sendable (JobContext) async throws -> String?

/// Follows up on jobs of a queue whose lease expired, in the rescue's transaction: an app whose
/// jobs stand for records of its own (simjobs' tasks) moves those records along.
public typealias RescueHandler = @Sendable ([RescuedJob], PostgresConnection, Logger) async throws -> Void

/// Runs jobs of some queues: claims as many as it has free slots (``Configuration/concurrency``),
/// heartbeats their leases (one statement for all it holds), completes or fails them under their
/// lease token (completions that finish together are written together), rescues jobs of its
/// queues (and of the queues it has ``RescueHandler``s for) whose lease expired, fires schedules, and drains on graceful shutdown (claims nothing more, lets
/// running jobs finish within ``Configuration/drainTimeout``, then cancels them; their leases
/// expire and another worker retries them).
///
/// It wakes on `NOTIFY strata_jobs` (a connection of its own) and polls every
/// ``Configuration/pollInterval`` as a fallback. Enqueues notify a queue at most every 50 ms
/// per process (one notification per commit would serialise the enqueuing transactions'
/// commits), so a worker that has found jobs polls every ``Configuration/activePollInterval``
/// for ``Configuration/activePeriod`` after: the jobs of a burst are claimed as they come.
///
/// Metrics: `strata_jobs_claim_seconds`, `strata_jobs_run_seconds{kind}`,
/// `strata_jobs_finished_total{kind,outcome}`, `strata_jobs_depth{queue,state}`.
public final class JobWorker: Service, Sendable {
    public struct Configuration: Sendable {
        /// The queues claimed from. Empty: the worker claims nothing (and does not listen); it
        /// only rescues its rescue handlers' queues and fires schedules.
        public var queues: [String]
        /// Handlers run at once.
        public var concurrency: Int
        /// Jobs claimed beyond the free slots, leased and waiting to start, so that a slot
        /// whose job ends starts the next without waiting for a claim; a prefetching worker also
        /// writes a job's outcome while its slot goes on. Worth it for many short jobs; leave it
        /// 0 for long ones, which a prefetching worker would keep from idle workers (and then a
        /// worker holds no more leases than it has slots).
        public var prefetch: Int
        public var lease: Duration
        public var heartbeatInterval: Duration
        public var pollInterval: Duration
        /// How often a worker that has found jobs within ``activePeriod`` polls.
        public var activePollInterval: Duration
        public var activePeriod: Duration
        public var drainTimeout: Duration
        /// Retry delay after attempt n: `baseDelay × 2^(n-1)`, ±25 % jitter, at most `maximumDelay`.
        public var baseDelay: Duration
        public var maximumDelay: Duration
        public var name: String

        public init(
            queues: [String] = ["default"],
            concurrency: Int = 4,
            prefetch: Int = 0,
            lease: Duration = .seconds(30),
            heartbeatInterval: Duration = .seconds(10),
            pollInterval: Duration = .seconds(1),
            activePollInterval: Duration = .milliseconds(10),
            activePeriod: Duration = .seconds(1),
            drainTimeout: Duration = .seconds(10),
            baseDelay: Duration = .seconds(1),
            maximumDelay: Duration = .seconds(3600),
            name: String = "worker-\(ProcessInfo.processInfo.processIdentifier)"
        ) {
            self.queues = queues
            self.concurrency = max(1, concurrency)
            self.prefetch = max(0, prefetch)
            self.lease = lease
            self.heartbeatInterval = heartbeatInterval
            self.pollInterval = pollInterval
            self.activePollInterval = min(activePollInterval, pollInterval)
            self.activePeriod = activePeriod
            self.drainTimeout = drainTimeout
            self.baseDelay = baseDelay
            self.maximumDelay = maximumDelay
            self.name = name
        }
    }

    public let configuration: Configuration
    let pool: PostgresPool
    let handlers: [String: JobHandler]
    let schedules: [JobSchedule]
    let rescueHandlers: [String: RescueHandler]
    let logger: Logger
    let queue = JobQueue()
    let doorbell = Doorbell()
    /// The jobs running here, with the latch their handler polls for cancellation.
    private let running = Mutex<[Int64: HeldJob]>([:])
    /// Slots running handlers, and claimed jobs waiting for one (prefetched).
    private let slots = Mutex<(busy: Int, waiting: [HeldJob])>((0, []))
    private let completions: Coalescer<(job: ClaimedJob, resultJSON: String?), Bool>
    private let claimTimer = Metrics.Timer(label: "strata_jobs_claim_seconds", preferredDisplayUnit: .seconds)

    public init(
        pool: PostgresPool,
        handlers: [String: JobHandler],
        schedules: [JobSchedule] = [],
        rescueHandlers: [String: RescueHandler] = [:],
        configuration: Configuration = .init(),
        logger: Logger
    ) {
        self.pool = pool
        self.handlers = handlers
        self.schedules = schedules
        self.rescueHandlers = rescueHandlers
        self.configuration = configuration
        self.logger = logger
        let queue = self.queue
        self.completions = Coalescer { jobs in
            let completed = try await pool.withConnection { connection in
                try await queue.complete(jobs, on: connection, logger: pool.statementLogger)
            }
            return jobs.map { completed.contains($0.job.id) }
        }
    }

    /// Runs until graceful shutdown, then drains.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            // A worker that only rescues and fires schedules (no queues) has nothing to wake for.
            let claims = !configuration.queues.isEmpty
            let listener = claims ? Task { await self.listenForEnqueues() } : nil
            let heartbeats = claims ? Task { await self.heartbeatRunningJobs() } : nil
            defer {
                listener?.cancel()
                heartbeats?.cancel()
            }
            let stopping = Latch()
            await withGracefulShutdownHandler {
                var lastMaintenance = ContinuousClock.now - .seconds(3600)
                var lastFound = ContinuousClock.now - configuration.activePeriod
                while !Task.isCancelled && !stopping.isSet {
                    if lastMaintenance.duration(to: .now) >= configuration.pollInterval * 5 {
                        lastMaintenance = .now
                        await maintain()
                    }
                    let wanted = slots.withLock { configuration.concurrency + configuration.prefetch - $0.busy - $0.waiting.count }
                    var claimed: [ClaimedJob] = []
                    if claims && wanted > 0 {
                        do {
                            claimed = try await claim(limit: wanted)
                        } catch {
                            // During an outage the pool has logged it once: wait for it to end.
                            if pool.isOutage(error) { await pool.waitUntilAvailable() }
                        }
                        let held = claimed.map { HeldJob(job: $0, cancellation: Latch()) }
                        running.withLock { running in for job in held { running[job.job.id] = job } }
                        let starting = slots.withLock { slots -> Int in
                            slots.waiting += held
                            let starting = min(configuration.concurrency - slots.busy, slots.waiting.count)
                            slots.busy += starting
                            return starting
                        }
                        for _ in 0..<starting { group.addTask { await self.runSlot() } }
                    }
                    if !claimed.isEmpty { lastFound = .now }
                    if claimed.isEmpty || claimed.count < wanted {
                        let active = lastFound.duration(to: .now) < configuration.activePeriod
                        await doorbell.wait(timeout: active ? configuration.activePollInterval : configuration.pollInterval)
                    }
                }
            } onGracefulShutdown: {
                stopping.set()
                self.doorbell.ring()
            }
            await releaseWaitingJobs()
            // Drain: running jobs get the drain timeout, then are cancelled.
            let deadline = ContinuousClock.now + configuration.drainTimeout
            while runningCount > 0 && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
            group.cancelAll()
        }
    }

    /// One slot: runs waiting jobs one after another until none is left. In a prefetching
    /// worker a job's outcome is written while the slot goes on (completions that finish
    /// together are written together); a worker that does not prefetch writes it before the
    /// slot is free again, so it never holds more leases than it has slots.
    private func runSlot() async {
        await withDiscardingTaskGroup { writes in
            while let held = takeWaitingJob() {
                doorbell.ring()  // one fewer waiting: the loop may claim more
                let job = held.job
                let started = ContinuousClock.now
                let ran = await runHandler(job, cancellation: held.cancellation)
                let write: @Sendable () async -> Void = {
                    await self.record(job, ran, started: started)
                    self.running.withLock { _ = $0.removeValue(forKey: job.id) }
                }
                if configuration.prefetch > 0 {
                    writes.addTask(operation: write)
                } else {
                    await write()
                }
            }
        }
    }

    /// The next job to run, or nil (and the slot freed) when none is waiting.
    private func takeWaitingJob() -> HeldJob? {
        let job = slots.withLock { slots -> HeldJob? in
            guard !slots.waiting.isEmpty else {
                slots.busy -= 1
                return nil
            }
            return slots.waiting.removeFirst()
        }
        if job == nil { doorbell.ring() }
        return job
    }

    /// Gives prefetched jobs that never started back to the queue (on shutdown).
    private func releaseWaitingJobs() async {
        let waiting = slots.withLock { slots -> [ClaimedJob] in
            defer { slots.waiting = [] }
            return slots.waiting.map(\.job)
        }
        guard !waiting.isEmpty else { return }
        _ = try? await pool.withConnection { connection in
            try await queue.release(waiting, on: connection, logger: pool.statementLogger)
        }
        running.withLock { running in for job in waiting { running.removeValue(forKey: job.id) } }
    }

    /// Claims jobs across the configured queues. Each queue's claim is one statement (select,
    /// lock and lease together), so no transaction wraps it: BEGIN and COMMIT would triple the
    /// round trips of every claim. A failure after some queues have been claimed from keeps what
    /// was leased.
    func claim(limit: Int) async throws -> [ClaimedJob] {
        let start = ContinuousClock.now
        let jobs = try await pool.withConnection { connection in
            var claimed: [ClaimedJob] = []
            for name in configuration.queues where claimed.count < limit {
                do {
                    claimed += try await queue.claim(
                        queue: name,
                        limit: limit - claimed.count,
                        worker: configuration.name,
                        lease: configuration.lease,
                        on: connection,
                        logger: pool.statementLogger
                    )
                } catch {
                    if claimed.isEmpty { throw error }
                    break
                }
            }
            return claimed
        }
        claimTimer.recordNanoseconds(start.duration(to: .now).nanoseconds)
        return jobs
    }

    private var runningCount: Int { running.withLock { $0.count } }

    /// A job this worker leased, with the latch its handler polls for cancellation.
    private struct HeldJob: Sendable {
        var job: ClaimedJob
        var cancellation: Latch
    }

    /// Extends the leases of every running job in one statement per interval; a job whose lease
    /// was lost or whose cancellation was requested has its latch set.
    private func heartbeatRunningJobs() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: configuration.heartbeatInterval)
                let held = running.withLock { Array($0.values) }
                guard !held.isEmpty else { continue }
                let answer = try await pool.withConnection { connection in
                    try await queue.heartbeat(held.map(\.job), lease: configuration.lease, on: connection, logger: pool.statementLogger)
                }
                for job in held where answer[job.job.id] != false { job.cancellation.set() }
            } catch {
                if Task.isCancelled { return }
                logger.debug("heartbeat failed; retrying", metadata: ["strata.error": "\(error)"])
            }
        }
    }

    /// Runs a job's handler.
    private func runHandler(_ job: ClaimedJob, cancellation: Latch) async -> Result<String?, any Error> {
        do {
            guard let handler = handlers[job.kind] else {
                throw StrataError(.invalidValue, "No handler for job kind '\(job.kind)'.")
            }
            return .success(try await handler(JobContext(job: job, cancellation: cancellation)))
        } catch {
            return .failure(error)
        }
    }

    /// Writes how a job's attempt ended, under its lease token.
    private func record(_ job: ClaimedJob, _ ran: Result<String?, any Error>, started: ContinuousClock.Instant) async {
        let outcome: String
        switch ran {
        case .success(let result):
            // Unwritten (the database failed): the lease expires and the job is rescued.
            outcome = (try? await completions.submit((job, result))).map { $0 ? "completed" : "lost" } ?? "unrecorded"
        case .failure(is JobCancelled):
            let written = try? await pool.withConnection { connection in
                try await queue.finishCancelled(job, on: connection, logger: pool.statementLogger)
            }
            outcome = written == nil ? "unrecorded" : "cancelled"
        case .failure(let error):
            let retryAt = Date().addingTimeInterval(retryDelay(afterAttempt: job.attempt).secondsDouble)
            do {
                let state = try await pool.withConnection { connection in
                    try await queue.fail(
                        job,
                        error: "\(error)",
                        retryAt: retryAt,
                        final: error is JobFailedPermanently,
                        on: connection,
                        logger: pool.statementLogger
                    )
                }
                outcome = state?.rawValue ?? "lost"
            } catch {
                outcome = "unrecorded"
            }
            logger.debug("job attempt failed", metadata: ["strata.job.id": "\(job.id)", "strata.job.kind": "\(job.kind)"])
        }
        Metrics.Timer(label: "strata_jobs_run_seconds", dimensions: [("kind", job.kind)]).recordNanoseconds(started.duration(to: .now).nanoseconds)
        Counter(label: "strata_jobs_finished_total", dimensions: [("kind", job.kind), ("outcome", outcome)]).increment()
    }

    /// The delay before retrying after attempt `attempt`.
    public func retryDelay(afterAttempt attempt: Int) -> Duration {
        Backoff(initial: configuration.baseDelay, maximum: configuration.maximumDelay).delay(afterFailures: attempt)
    }

    /// Rescues expired leases, fires due schedules, updates the depth gauges.
    func maintain() async {
        do {
            try await pool.withTransaction { connection in
                let logger = pool.statementLogger
                let queues = Array(Set(configuration.queues).union(rescueHandlers.keys)).sorted()
                let rescued = try await queue.rescueExpired(queues: queues, on: connection, logger: logger)
                if !rescued.isEmpty {
                    self.logger.notice("rescued jobs whose lease expired", metadata: ["strata.jobs.rescued": "\(rescued.count)"])
                    for (name, jobs) in Dictionary(grouping: rescued, by: \.queue) {
                        try await rescueHandlers[name]?(jobs, connection, logger)
                    }
                }
                for schedule in schedules { try await schedule.fireIfDue(on: connection, logger: logger) }
            }
            let depth = try await pool.withConnection { connection in try await queue.depth(on: connection, logger: pool.statementLogger) }
            for (queueName, state, count) in depth {
                Gauge(label: "strata_jobs_depth", dimensions: [("queue", queueName), ("state", state.rawValue)]).record(count)
            }
        } catch {
            logger.debug("job maintenance failed; retrying", metadata: ["strata.error": "\(error)"])
        }
    }

    private func listenForEnqueues() async {
        while !Task.isCancelled {
            do {
                try await pool.listen(on: JobQueue.channel) { notifications in
                    doorbell.ring()
                    for try await notification in notifications where configuration.queues.contains(notification.payload) {
                        doorbell.ring()
                    }
                }
            } catch {
                if Task.isCancelled { return }
            }
            try? await Task.sleep(for: .seconds(1))
            await pool.waitUntilAvailable()
        }
    }
}

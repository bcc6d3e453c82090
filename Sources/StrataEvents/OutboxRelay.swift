import Foundation
public import Logging
import Metrics
import PostgresNIO
public import ServiceLifecycle
import StrataCore
public import StrataPostgres
public import StrataRedis

/// Relays committed outbox events to Redis Streams, in order, at least once, and deletes the
/// cache keys they name.
///
/// Each round numbers the next committed events (``OutboxStore/nextBatch(limit:)``), publishes
/// them at their positions with one script (``StreamPublisher``), then records them as
/// published. Per aggregate, positions follow commit order (see ``OutboxWriter``). A relay
/// stopped at any point repeats at most its last batch, at the same positions, which the
/// streams skip. While Redis is down the relay backs off (100 ms doubling to 5 s) and catches
/// up when it is back; events wait in PostgreSQL meanwhile. It wakes on `NOTIFY strata_outbox`
/// from a connection of its own; while events flow it polls every
/// ``Configuration/activePollInterval`` (appends notify at most every 50 ms per process), and
/// when idle every ``Configuration/pollInterval`` as a fallback.
/// Published events are removed once older than ``Configuration/replayWindow``, in batches.
///
/// With no Redis (the hot layer disabled) the relay still numbers events and marks them
/// published, so that live clients are served from the outbox.
public final class OutboxRelay: Service, Sendable {
    /// Relay settings.
    public struct Configuration: Sendable {
        /// Where events go.
        public var streams: EventStreams
        /// Events per round (and per script call).
        public var batchSize: Int
        /// The longest wait between rounds when no notification comes and the relay is idle.
        public var pollInterval: Duration
        /// The wait between rounds while events are flowing (appends notify at most every
        /// 50 ms, so a busy relay polls instead).
        public var activePollInterval: Duration
        /// How long after its last non-empty round the relay counts as busy.
        public var activePeriod: Duration
        /// How long published events stay in the outbox for replay and catch-up; `nil` keeps them.
        public var replayWindow: Duration?
        /// How often expired events are removed.
        public var cleanupInterval: Duration
        /// Events removed per delete statement.
        public var cleanupBatchSize: Int
        /// Each stream is trimmed to about this many entries (`MAXLEN ~`).
        public var maximumStreamLength: Int
        /// The first and the longest wait after a failed round.
        public var initialBackoff: Duration
        public var maximumBackoff: Duration

        public init(
            streams: EventStreams = .init(),
            batchSize: Int = 500,
            pollInterval: Duration = .seconds(1),
            activePollInterval: Duration = .milliseconds(5),
            activePeriod: Duration = .seconds(1),
            replayWindow: Duration? = .seconds(72 * 3600),
            cleanupInterval: Duration = .seconds(60),
            cleanupBatchSize: Int = 1000,
            maximumStreamLength: Int = 100_000,
            initialBackoff: Duration = .milliseconds(100),
            maximumBackoff: Duration = .seconds(5)
        ) {
            self.streams = streams
            self.batchSize = batchSize
            self.pollInterval = pollInterval
            self.activePollInterval = activePollInterval
            self.activePeriod = activePeriod
            self.replayWindow = replayWindow
            self.cleanupInterval = cleanupInterval
            self.cleanupBatchSize = cleanupBatchSize
            self.maximumStreamLength = maximumStreamLength
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
        }
    }

    /// What a round did, for tests and benchmarks that wait on the relay.
    public struct Round: Sendable, Equatable {
        /// Positions up to this one are published.
        public var publishedThrough: Int64
        /// Events in the round.
        public var events: Int
        /// Stream entries added (fewer than `events` when a retried batch was partly there).
        public var added: Int
    }

    public let configuration: Configuration
    let store: OutboxStore
    let pool: PostgresPool
    let publisher: StreamPublisher?
    let hub: EventHub?
    let logger: Logger
    let doorbell = Doorbell()
    let roundsContinuation: AsyncStream<Round>.Continuation
    /// Every round that published events, newest kept when nobody reads (one reader).
    public let rounds: AsyncStream<Round>

    let publishedCounter = Counter(label: "strata_outbox_published_total")
    let failureCounter = Counter(label: "strata_outbox_relay_failures_total")
    let lagTimer = Metrics.Timer(label: "strata_outbox_relay_lag_seconds", preferredDisplayUnit: .seconds)

    /// Creates a relay.
    /// - Parameters:
    ///   - pool: The database.
    ///   - redis: The hot layer, or `nil` when it is disabled.
    ///   - configuration: Settings.
    ///   - hub: The process's live-event hub, told after each round which apps have news.
    ///   - logger: Background logger.
    public init(pool: PostgresPool, redis: RedisClient?, configuration: Configuration = .init(), hub: EventHub? = nil, logger: Logger) {
        self.pool = pool
        self.hub = hub
        self.store = OutboxStore(pool: pool)
        self.configuration = configuration
        self.publisher = redis.map {
            StreamPublisher(redis: $0, streams: configuration.streams, maximumLength: configuration.maximumStreamLength)
        }
        self.logger = logger
        (rounds, roundsContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(256))
    }

    /// Relays until cancelled or gracefully shut down.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.listenForAppends() }
                await self.relayUntilCancelled()
                group.cancelAll()
            }
        }
        roundsContinuation.finish()
    }

    /// Wakes the relay now (for callers that just committed events and want them out).
    public func wake() { doorbell.ring() }

    /// Runs rounds until nothing is waiting.
    /// - Returns: How many events were relayed.
    /// - Throws: The first failure (Redis or database unavailable …).
    @discardableResult
    public func relayWaitingEvents() async throws -> Int {
        try await Batches.drain(size: configuration.batchSize) { try await relayRound() }
    }

    /// One round: number (or re-read) a batch, publish it, record it.
    /// - Returns: How many events the round carried (0 when nothing waits or another relay is numbering).
    @discardableResult
    public func relayRound() async throws -> Int {
        guard let batch = try await store.nextBatch(limit: configuration.batchSize) else { return 0 }
        if batch.records.isEmpty {
            if batch.isRetry { try await store.markPublished(through: batch.through) }
            return 0
        }
        let events = batch.records.compactMap(LiveEvent.init(record:))
        let added = try await publisher?.publish(events) ?? 0
        try await store.markPublished(through: batch.through)
        hub?.announce(apps: Set(batch.records.map(\.event.app)))
        publishedCounter.increment(by: batch.records.count)
        let now = Date()
        for record in batch.records {
            lagTimer.recordNanoseconds(Int64(max(0, now.timeIntervalSince(record.occurredAt)) * 1e9))
        }
        if batch.isRetry {
            logger.notice(
                "re-published a batch a previous relay had not confirmed",
                metadata: ["strata.outbox.through": "\(batch.through)", "strata.outbox.added": "\(added)"]
            )
        }
        roundsContinuation.yield(Round(publishedThrough: batch.through, events: batch.records.count, added: added))
        return batch.records.count
    }

    private func relayUntilCancelled() async {
        var failures = 0
        var nextCleanup = ContinuousClock.now
        var lastActivity = ContinuousClock.now - configuration.activePeriod
        while !Task.isCancelled {
            do {
                let relayed = try await relayWaitingEvents()
                if relayed > 0 { lastActivity = .now }
                if failures > 0 { logger.notice("the outbox relay recovered", metadata: ["strata.outbox.relayed": "\(relayed)"]) }
                failures = 0
                if let window = configuration.replayWindow, ContinuousClock.now >= nextCleanup {
                    nextCleanup = .now + configuration.cleanupInterval
                    try await removeExpired(window: window)
                }
                let active = lastActivity.duration(to: .now) < configuration.activePeriod
                await doorbell.wait(timeout: active ? configuration.activePollInterval : configuration.pollInterval)
            } catch {
                if Task.isCancelled { return }
                if pool.isOutage(error) {
                    // The pool has logged the outage once; events wait in PostgreSQL meanwhile.
                    await pool.waitUntilAvailable()
                    continue
                }
                failures += 1
                failureCounter.increment()
                let delay = backoff(afterFailures: failures)
                if failures == 1 || failures.isMultiple(of: 20) {
                    logger.warning(
                        "the outbox relay cannot publish; events wait in PostgreSQL",
                        metadata: ["strata.error": "\(error)", "strata.retry_in": "\(delay)", "strata.failures": "\(failures)"]
                    )
                }
                try? await Task.sleep(for: delay)
            }
        }
    }

    /// The wait after `failures` failed rounds: doubling from the initial backoff, capped,
    /// with ±20 % jitter so that several relays do not retry in step.
    func backoff(afterFailures failures: Int) -> Duration {
        Backoff(initial: configuration.initialBackoff, maximum: configuration.maximumBackoff, jitter: 0.8...1.2)
            .delay(afterFailures: failures)
    }

    private func removeExpired(window: Duration) async throws {
        let cutoff = Date().addingTimeInterval(-window.secondsDouble)
        var removed = 0
        while !Task.isCancelled {
            let deleted = try await store.deletePublished(before: cutoff, limit: configuration.cleanupBatchSize)
            removed += deleted
            if deleted < configuration.cleanupBatchSize { break }
        }
        if removed > 0 { logger.info("removed relayed events past the replay window", metadata: ["strata.outbox.removed": "\(removed)"]) }
    }

    /// Rings the doorbell on every `NOTIFY strata_outbox`; reconnects after a second when the
    /// listening connection fails, or once the pool can reach the database again (the polling
    /// fallback covers the gap).
    private func listenForAppends() async {
        while !Task.isCancelled {
            do {
                try await pool.listen(on: OutboxWriter.channel) { notifications in
                    doorbell.ring()  // whatever was appended while not listening
                    for try await _ in notifications { doorbell.ring() }
                }
            } catch {
                if Task.isCancelled { return }
                logger.debug("the outbox listener reconnects", metadata: ["strata.error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(1))
            await pool.waitUntilAvailable()
        }
    }
}

public import Logging
public import ServiceLifecycle
public import StrataCore

/// Keeps an embedded cluster running for a server's lifetime and stops it at shutdown.
///
/// It looks at the server process every ``Configuration/checkInterval``. When PostgreSQL has
/// died (killed, out of memory), it logs that once with the end of the server log and starts it
/// again on the same port — up to ``Configuration/restartAttempts`` times in a row, waiting
/// ``Configuration/restartBackoff`` between attempts (a killed server's backends may hold its
/// shared memory for a moment). Pools reconnect through their probe connection. When every
/// attempt fails, `run()` throws `server_start_failed`, which ends the server with that message
/// instead of leaving it to answer 503 forever.
///
/// Put it first in the service group: services shut down in reverse order, so the cluster
/// stops after everything that uses it.
public struct EmbeddedClusterKeeper: Service {
    /// How often the keeper looks and how hard it tries.
    public struct Configuration: Sendable {
        /// Time between two looks at the server process.
        public var checkInterval: Duration
        /// Restarts tried in a row before giving up.
        public var restartAttempts: Int
        /// The wait between failed restarts.
        public var restartBackoff: Backoff

        /// Creates a configuration; every argument has the documented default.
        public init(
            checkInterval: Duration = .milliseconds(250),
            restartAttempts: Int = 5,
            restartBackoff: Backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(8))
        ) {
            self.checkInterval = checkInterval
            self.restartAttempts = restartAttempts
            self.restartBackoff = restartBackoff
        }
    }

    let cluster: EmbeddedCluster
    let configuration: Configuration
    let logger: Logger

    /// Creates a keeper for a started cluster.
    public init(cluster: EmbeddedCluster, configuration: Configuration = .init(), logger: Logger) {
        self.cluster = cluster
        self.configuration = configuration
        self.logger = logger
    }

    /// Watches and restarts the cluster until graceful shutdown, then stops it.
    /// - Throws: `server_start_failed` when PostgreSQL died and could not be started again.
    public func run() async throws {
        let stopping = Latch()
        let doorbell = Doorbell()
        do {
            try await withGracefulShutdownHandler {
                while !stopping.isSet && !Task.isCancelled {
                    await doorbell.wait(timeout: configuration.checkInterval)
                    if stopping.isSet || Task.isCancelled { break }
                    if !cluster.isRunning { try await restart(stopping: stopping) }
                }
            } onGracefulShutdown: {
                stopping.set()
                doorbell.ring()
            }
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }

    private func restart(stopping: Latch) async throws {
        logger.error(
            "the embedded PostgreSQL exited unexpectedly; restarting it",
            metadata: ["strata.db.pid": "\(cluster.serverPID)", "strata.db.log_tail": "\(cluster.logTail(lines: 5))"]
        )
        var lastError: (any Error)?
        for attempt in 1...max(1, configuration.restartAttempts) {
            if stopping.isSet { return }
            do {
                try await cluster.restart()
                return
            } catch {
                lastError = error
                logger.warning(
                    "the embedded PostgreSQL did not start",
                    metadata: ["strata.attempt": "\(attempt)", "strata.error": "\(error)"]
                )
                try? await Task.sleep(for: configuration.restartBackoff.delay(afterFailures: attempt))
            }
        }
        throw StrataError(
            .serverStartFailed,
            "The embedded PostgreSQL exited and could not be started again after \(configuration.restartAttempts) attempts; see \(cluster.logFile). Stopping.",
            underlying: lastError
        )
    }
}

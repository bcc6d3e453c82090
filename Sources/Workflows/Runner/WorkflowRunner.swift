import Foundation
public import Logging
public import ServiceLifecycle
import StrataCore
public import StrataPostgres
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `strata workflows runner --exec 'CMD'`: runs executions with an operator's command, over the
/// same ``ExecutionService`` the HTTP worker protocol uses. Each of `concurrency` slots claims
/// one execution under a lease, hands it to the command as JSON on standard input (the pinned
/// version's `nodes` and `connections`, the `input`, the ids — nothing from a workflow reaches
/// the command line), heartbeats while it runs, ships its other output lines as progress, and
/// finishes it with the last JSON object the command printed (`success`, exit status 0) or its
/// exit status and last error line (`failed`). A cancellation asked for stops the command
/// (SIGTERM, then SIGKILL after the grace) and finishes it `cancelled`; a lost lease stops it and
/// reports nothing. A runner killed outright leaves its executions to the lease: they end
/// Crashed (or are retried) by the server's rescue.
public struct WorkflowRunner: Service {
    /// How the runner runs.
    public struct Configuration: Sendable {
        /// The operator's command (words, the program resolved).
        public var command: [String]
        /// The worker's name, recorded on the executions it runs.
        public var name: String
        /// Executions run at once.
        public var concurrency: Int
        /// The lease of a running execution; a runner silent this long is presumed dead.
        public var lease: Duration
        /// How long to wait between claims when none waits.
        public var pollInterval: Duration
        /// How long a cancelled command has between SIGTERM and SIGKILL.
        public var killGrace: Duration

        public init(
            command: [String],
            name: String,
            concurrency: Int = 1,
            lease: Duration = .seconds(30),
            pollInterval: Duration = .seconds(1),
            killGrace: Duration = .seconds(5)
        ) {
            self.command = command
            self.name = name
            self.concurrency = concurrency
            self.lease = lease
            self.pollInterval = pollInterval
            self.killGrace = killGrace
        }
    }

    let service: ExecutionService
    let configuration: Configuration
    let logger: Logger

    public init(pool: PostgresPool, configuration: Configuration, logger: Logger) {
        self.service = ExecutionService(pool: pool, logger: logger)
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        let stopping = Latch()
        let doorbell = Doorbell()
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for slot in 0..<max(1, configuration.concurrency) {
                    group.addTask { await runSlot(slot, stopping: stopping, doorbell: doorbell) }
                }
            }
        } onGracefulShutdown: {
            stopping.set()
            doorbell.ring()
        }
    }

    /// Who the runner's claims and reports are made by.
    private var caller: Caller { .job(configuration.name, kind: "worker") }

    /// One slot: claim, run, repeat, until shutdown (the execution in hand runs to its end).
    private func runSlot(_ slot: Int, stopping: Latch, doorbell: Doorbell) async {
        while !Task.isCancelled && !stopping.isSet {
            let claimed: [ClaimedExecution]
            do {
                claimed = try await service.claim(worker: configuration.name, limit: 1, lease: configuration.lease, by: caller)
            } catch {
                logger.warning("executions could not be claimed", metadata: ["strata.error": "\(error)"])
                claimed = []
            }
            guard let execution = claimed.first else {
                await doorbell.wait(timeout: configuration.pollInterval)
                continue
            }
            await run(execution)
        }
    }

    /// What the command gets on standard input.
    static func input(of claim: ClaimedExecution) -> String {
        let execution = claim.execution
        let graph = (try? claim.workflowData.value()) ?? .object([:])
        return JSONValue.object([
            "execution_id": .string(execution.id.uuidString.lowercased()),
            "workflow_id": .string(execution.workflowID.uuidString.lowercased()),
            "version_id": .string(execution.versionID.uuidString.lowercased()),
            "mode": .string(execution.mode.rawValue),
            "input": (try? claim.input.value()) ?? .object([:]),
            "nodes": graph["nodes"] ?? .array([]),
            "connections": graph["connections"] ?? .array([]),
        ]).text
    }

    /// How a run ended, as the runner saw it.
    private enum Stop: Int {
        case none = 0
        case cancelled, leaseLost
    }

    /// Runs one claimed execution to its end and reports it.
    func run(_ claim: ClaimedExecution) async {
        let id = claim.execution.id
        var environment = ProcessInfo.processInfo.environment
        environment["STRATA_EXECUTION_ID"] = id.uuidString.lowercased()
        environment["STRATA_WORKFLOW_ID"] = claim.execution.workflowID.uuidString.lowercased()
        let process: CommandProcess
        do {
            process = try CommandProcess.start(configuration.command, input: Self.input(of: claim), environment: environment)
        } catch {
            await finish(
                id,
                claim,
                .init(status: .failed, error: "The command could not be started: \((error as? StrataError)?.message ?? "\(error)")")
            )
            return
        }
        let state = RunState()
        let (service, logger, configuration) = (service, logger, configuration)

        let exitCode = await withTaskGroup(of: Int32?.self) { group in
            group.addTask {
                for await line in process.lines {
                    if line.stream == .output, line.text.first == "{", (try? JSONValue(parsing: line.text))?.objectValue != nil {
                        state.lastResult.withLock { $0 = line.text }
                        continue
                    }
                    guard !line.text.isEmpty else { continue }
                    if line.stream == .error { state.lastError.withLock { $0 = line.text } }
                    state.pending.withLock { $0.append((nil, String(line.text.prefix(10_000)))) }
                }
                return await process.exitCode()
            }
            // Heartbeat, and ship progress lines, until the command ends.
            group.addTask {
                let beat = configuration.lease / 3
                var sinceBeat = Duration.zero
                let tick = Duration.milliseconds(250)
                while !Task.isCancelled {
                    try? await Task.sleep(for: tick)
                    sinceBeat += tick
                    let lines = state.pending.withLock { lines in
                        defer { lines.removeAll() }
                        return lines
                    }
                    do {
                        if !lines.isEmpty { try await service.progress(id, lease: claim.lease, lines: lines) }
                        if sinceBeat >= beat {
                            sinceBeat = .zero
                            if try await service.heartbeat(id, lease: claim.lease, extendBy: configuration.lease),
                                state.stop.compareExchange(expected: Stop.none.rawValue, desired: Stop.cancelled.rawValue, ordering: .relaxed)
                                    .exchanged
                            {
                                process.signal(SIGTERM)
                                Task {
                                    try? await Task.sleep(for: configuration.killGrace)
                                    process.signal(SIGKILL)
                                }
                            }
                        }
                    } catch let error as StrataError where error.code == .leaseLost {
                        state.stop.store(Stop.leaseLost.rawValue, ordering: .relaxed)
                        process.signal(SIGKILL)
                        return nil
                    } catch {
                        logger.warning(
                            "a heartbeat or progress report failed",
                            metadata: ["workflows.execution": "\(id)", "strata.error": "\(error)"]
                        )
                    }
                }
                return nil
            }
            var code: Int32 = -1
            for await result in group {
                if let result {
                    code = result
                    group.cancelAll()
                }
            }
            return code
        }

        let lines = state.pending.withLock { $0 }
        if !lines.isEmpty { try? await service.progress(id, lease: claim.lease, lines: lines) }
        switch Stop(rawValue: state.stop.load(ordering: .relaxed)) ?? .none {
        case .leaseLost:
            logger.warning("the lease of an execution was lost; its command was stopped", metadata: ["workflows.execution": "\(id)"])
        case .cancelled:
            await finish(id, claim, .init(status: .cancelled))
        case .none:
            if exitCode == 0 {
                let result = state.lastResult.withLock { $0 }.flatMap { try? JSONValue(parsing: $0) }
                await finish(id, claim, .init(status: .success, result: result))
            } else {
                let reason = "The command ended with exit status \(exitCode)" + (state.lastError.withLock { $0 }.map { ": \($0.prefix(500))" } ?? ".")
                await finish(id, claim, .init(status: .failed, error: reason))
            }
        }
    }

    /// What one run's tasks share.
    private final class RunState: Sendable {
        let stop = Atomic<Int>(Stop.none.rawValue)
        let pending = Mutex<[(node: String?, message: String)]>([])
        let lastResult = Mutex<String?>(nil)
        let lastError = Mutex<String?>(nil)
    }

    private func finish(_ id: UUID, _ claim: ClaimedExecution, _ outcome: ExecutionService.Outcome) async {
        do {
            _ = try await service.finish(id, lease: claim.lease, outcome, by: caller)
        } catch {
            // The lease expires and the rescue ends the execution (Crashed or retried).
            logger.warning("an execution's end could not be recorded", metadata: ["workflows.execution": "\(id)", "strata.error": "\(error)"])
        }
    }
}

public import Foundation
public import Logging
import Metrics
import PostgresNIO
import StrataCore
public import StrataPostgres
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What `strata worker` runs: a ``JobWorker`` on queue `simjobs` claiming as many tasks as it
/// has free GPUs. For each task it moves the task QUEUED → ASSIGNED (recording GPU and worker)
/// → RUNNING, runs the operator's command with the task's parameters as JSON on standard input
/// and `CUDA_VISIBLE_DEVICES` set to the task's GPU, stores the command's output lines in
/// `task_logs` as they come, and ends the task:
///
/// - exit 0 → COMPLETED, with the result document: the last line of standard output that is a
///   JSON object (`{"result_data": {…}, "output_files": […], "metrics": {…}}`; an object with
///   none of these keys is the `result_data` itself);
/// - another exit status → FAILED (`error_type` `exit_status`, the last error line quoted);
/// - past the task's `timeout_seconds` → TIMEOUT; cancelled → CANCELLED. Both stop the command's
///   process group (SIGTERM, then SIGKILL after ``Configuration/killGrace``).
///
/// The lease of the task's job is heartbeated; a worker that dies leaves its tasks to the rescue
/// (``TaskService/rescueHandler(pool:)``): queued again while retries are left.
public struct TaskRunner: Sendable {
    public struct Configuration: Sendable {
        public var gpus: [Int]
        public var command: CommandTemplate
        public var name: String
        public var lease: Duration
        public var heartbeatInterval: Duration
        public var pollInterval: Duration
        public var killGrace: Duration
        public var drainTimeout: Duration
        /// Measures the GPUs at every heartbeat (default: `nvidia-smi` when installed).
        public var gpuProbe: GPUProbe?
        /// Loads and unloads models on request (see ``ModelLoader``); nil: loads are recorded only.
        public var modelCommand: CommandTemplate?
        /// The longest a model load or unload may take.
        public var modelTimeout: Duration

        public init(
            gpus: [Int],
            command: CommandTemplate,
            name: String = "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)",
            lease: Duration = .seconds(30),
            heartbeatInterval: Duration = .seconds(5),
            pollInterval: Duration = .seconds(1),
            killGrace: Duration = .seconds(5),
            drainTimeout: Duration = .seconds(30),
            gpuProbe: GPUProbe? = nil,
            modelCommand: CommandTemplate? = nil,
            modelTimeout: Duration = .seconds(300)
        ) {
            self.gpuProbe = gpuProbe
            self.modelCommand = modelCommand
            self.modelTimeout = modelTimeout
            self.gpus = gpus
            self.command = command
            self.name = name
            self.lease = lease
            self.heartbeatInterval = heartbeatInterval
            self.pollInterval = pollInterval
            self.killGrace = killGrace
            self.drainTimeout = drainTimeout
        }
    }

    let pool: PostgresPool
    let configuration: Configuration
    let logger: Logger
    let service: TaskService
    let slots: GPUSlots

    public init(pool: PostgresPool, configuration: Configuration, logger: Logger) {
        self.pool = pool
        self.configuration = configuration
        self.logger = logger
        self.service = TaskService(pool: pool)
        self.slots = GPUSlots(configuration.gpus)
    }

    /// The service that claims and runs tasks.
    public func worker() -> JobWorker {
        JobWorker(
            pool: pool,
            handlers: [TaskService.jobKind: { context in try await run(context) }],
            rescueHandlers: [TaskService.queue: TaskService.rescueHandler(pool: pool)],
            configuration: .init(
                queues: [TaskService.queue],
                concurrency: configuration.gpus.count,
                lease: configuration.lease,
                heartbeatInterval: configuration.heartbeatInterval,
                pollInterval: configuration.pollInterval,
                drainTimeout: configuration.drainTimeout,
                name: configuration.name
            ),
            logger: logger
        )
    }

    /// The service that keeps this worker's row in `simjobs.workers` (seen, busy GPUs, readings).
    public func presence() -> WorkerPresence {
        WorkerPresence(
            pool: pool,
            name: configuration.name,
            slots: slots,
            probe: configuration.gpuProbe,
            interval: configuration.heartbeatInterval,
            logger: logger
        )
    }

    /// The service that carries out model loads and unloads asked of this worker.
    public func modelLoader() -> ModelLoader {
        ModelLoader(
            pool: pool,
            worker: configuration.name,
            slots: slots,
            command: configuration.modelCommand,
            timeout: configuration.modelTimeout,
            interval: configuration.heartbeatInterval,
            logger: logger
        )
    }

    struct Arguments: Decodable {
        var task_id: UUID
        /// The task's model (absent from jobs enqueued before it was added), for GPU affinity.
        var model_name: String?
    }

    /// Runs one task's job.
    func run(_ context: JobContext) async throws -> String? {
        let arguments = try JSONDecoder.api().decode(Arguments.self, from: Data(context.job.argsJSON.utf8))
        // Model affinity: a GPU that holds the task's model is taken first.
        guard let gpu = await slots.take(for: arguments.model_name) else {
            throw StrataError(.concurrentUpdate, "No free GPU (more tasks claimed than GPUs); the task is retried.")
        }
        do {
            let summary = try await run(arguments.task_id, gpu: gpu, context: context)
            await slots.give(gpu)
            return summary
        } catch {
            await slots.give(gpu)
            throw error
        }
    }

    private func run(_ id: UUID, gpu: Int, context: JobContext) async throws -> String? {
        let job = context.job
        let worker = configuration.name
        guard let task = try await service.assign(id, job: job, gpu: gpu, worker: worker) else {
            return #"{"skipped":"the task is no longer queued"}"#
        }
        guard try await service.start(id, job: job, worker: worker) else {
            try await service.finish(id, job: job, worker: worker, outcome: .cancelled)
            throw JobCancelled()
        }
        var environment = ProcessInfo.processInfo.environment
        environment["CUDA_VISIBLE_DEVICES"] = "\(gpu)"
        environment["STRATA_TASK_ID"] = id.uuidString
        environment["STRATA_TASK_TYPE"] = task.taskType.rawValue
        let started = ContinuousClock.now
        let process: CommandProcess
        do {
            process = try CommandProcess.start(
                configuration.command.command(for: task.taskType),
                input: task.parameters.text,
                environment: environment
            )
        } catch {
            let message = (error as? StrataError)?.message ?? "\(error)"
            try await service.finish(id, job: job, worker: worker, outcome: .failed(type: "start_failed", message: message))
            return #"{"outcome":"start_failed"}"#
        }

        // Lines go to task_logs in batches (every 250 ms or 200 lines) while the command runs.
        let run = RunState()
        let shipLogs: @Sendable () async -> Void = {
            let batch = run.pendingLines.withLock { lines in
                defer { lines.removeAll(keepingCapacity: true) }
                return lines
            }
            do {
                try await service.appendLogs(id, lines: batch, gpu: gpu)
            } catch {
                // Kept for the next flush (bounded: a database gone for long loses the oldest).
                run.pendingLines.withLock { lines in
                    if lines.count + batch.count <= 20_000 { lines.insert(contentsOf: batch, at: 0) }
                }
                logger.warning("task log lines could not be stored", metadata: ["simjobs.task": "\(id)", "strata.error": "\(error)"])
            }
        }
        let timeout = Duration.seconds(task.options.timeoutSeconds)
        let exitCode = await withTaskGroup(of: Int32?.self) { group in
            group.addTask {
                for await line in process.lines {
                    let level = Self.level(of: line)
                    if line.stream == .output, line.text.first == "{", (try? JSONValue(parsing: line.text))?.objectValue != nil {
                        run.lastResult.withLock { $0 = line.text }
                    }
                    if line.stream == .error, !line.text.isEmpty { run.lastError.withLock { $0 = line.text } }
                    run.pendingLines.withLock { $0.append((level, line.text)) }
                }
                return nil
            }
            group.addTask {
                // Ships logs, and stops the command when it is cancelled, its lease is lost or its time is up.
                var signalled: ContinuousClock.Instant?
                while !run.finished.isSet {
                    await run.wake.wait(timeout: .milliseconds(250))
                    if run.finished.isSet { break }
                    await shipLogs()
                    if signalled == nil {
                        if context.isCancellationRequested {
                            run.stop.withLock { $0 = .cancelled }
                        } else if started.duration(to: .now) > timeout {
                            run.stop.withLock { $0 = .timedOut(message: "The run exceeded its limit of \(task.options.timeoutSeconds) s.") }
                        }
                        if run.stop.withLock({ $0 }) != nil {
                            process.signal(SIGTERM)
                            signalled = .now
                        }
                    } else if let since = signalled, since.duration(to: .now) > configuration.killGrace {
                        process.signal(SIGKILL)
                    }
                }
                return nil
            }
            let code = await process.exitCode()
            // The streams end once every process of the group has closed them; a straggler
            // holding them open is stopped.
            process.signal(SIGKILL)
            _ = await group.next()  // the output is read to its end
            run.finished.set()
            run.wake.ring()
            await group.waitForAll()
            return code
        }
        await shipLogs()
        let duration = started.duration(to: .now).secondsDouble
        Metrics.Timer(label: "simjobs_task_run_seconds", dimensions: [("task_type", task.taskType.rawValue)])
            .recordNanoseconds(Int64(duration * 1e9))

        let outcome: Outcome
        switch run.stop.withLock({ $0 }) {
        case .some(let stopped): outcome = stopped
        case nil where exitCode == 0: outcome = .completed(Self.result(of: run.lastResult.withLock { $0 }, task: id, duration: duration))
        case nil:
            let quoted = run.lastError.withLock { $0 }.map { ": \($0)" } ?? ""
            outcome = .failed(type: "exit_status", message: "The command exited with status \(exitCode)\(quoted)")
        }
        let recorded = try await service.finish(id, job: job, worker: worker, outcome: outcome)
        if case .cancelled = outcome { throw JobCancelled() }
        return #"{"outcome":\#(JSONText.quoted(recorded ? "\(outcome.status.rawValue)" : "lease_lost")),"exit_code":\#(exitCode)}"#
    }

    typealias Outcome = TaskService.Outcome

    /// What a run's concurrent parts share.
    final class RunState: Sendable {
        let pendingLines = Mutex<[(level: String, message: String)]>([])
        /// The last JSON object line of standard output.
        let lastResult = Mutex<String?>(nil)
        /// The last line of standard error.
        let lastError = Mutex<String?>(nil)
        /// Why the worker stopped the command, if it did.
        let stop = Mutex<Outcome?>(nil)
        /// Set when the command has ended and its output is read.
        let finished = Latch()
        let wake = Doorbell()
    }

    /// A line's level: a leading `DEBUG`/`INFO`/`WARNING`/`ERROR`/`CRITICAL` (then `:`, space or
    /// `]`) names it; otherwise standard output is INFO and standard error WARNING.
    static func level(of line: CommandProcess.Line) -> String {
        for level in ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] where line.text.hasPrefix(level) {
            let rest = line.text.dropFirst(level.count)
            if rest.isEmpty || rest.first == ":" || rest.first == " " || rest.first == "]" { return level }
        }
        return line.stream == .output ? "INFO" : "WARNING"
    }

    /// The result document of a run.
    static func result(of line: String?, task: UUID, duration: Double) -> TaskResult {
        let document = line.flatMap { try? JSONValue(parsing: $0) }?.objectValue ?? [:]
        let known = ["result_data", "output_files", "metrics", "duration_seconds"]
        let structured = known.contains { document[$0] != nil }
        return TaskResult(
            taskID: task,
            resultData: structured ? (document["result_data"] ?? .object([:])) : .object(document),
            outputFiles: structured ? (document["output_files"].flatMap { if case .array = $0 { $0 } else { nil } } ?? .array([])) : .array([]),
            metrics: structured ? (document["metrics"] ?? .object([:])) : .object([:]),
            durationSeconds: document["duration_seconds"]?.numberValue.flatMap { $0 >= 0 ? $0 : nil } ?? duration
        )
    }
}

extension TaskService.Outcome {
    var status: TaskStatus {
        switch self {
        case .completed: .completed
        case .failed: .failed
        case .timedOut: .timeout
        case .cancelled: .cancelled
        }
    }
}

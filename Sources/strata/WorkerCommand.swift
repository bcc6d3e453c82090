import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import SimJobs
import StrataCore
import StrataPostgres
import StrataServer
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `strata worker --gpus 0,1 --exec 'command {task_type}'`: runs simjobs tasks on this
/// machine's GPUs until stopped (SIGTERM/SIGINT: running tasks get the drain time to finish).
struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run simulation tasks: claims as many as there are free GPUs and runs the command for each.",
        discussion: """
            The command line is fixed here; '{task_type}' in it becomes the task's type (optimization, stability, \
            bulk-modulus, heat-capacity, interaction-energy, single-point-energy). The task's parameters arrive as \
            JSON on standard input; CUDA_VISIBLE_DEVICES names the task's GPU. Output lines are stored as the \
            task's log; the last line of standard output that is a JSON object is the result \
            ({"result_data": …, "output_files": […], "metrics": …}). Exit 0 completes the task, any other status fails it.

            Every heartbeat the GPU probe measures the GPUs (nvidia-smi's CSV query format: index, free MiB, \
            total MiB, temperature, utilisation); the alert rules on GPU memory and temperature read it. \
            Model loads asked through the API run the --model-exec command with \
            {"action": "load"|"unload", "gpu_id": …, "model": {…}} on standard input.
            """
    )

    @OptionGroup var options: GlobalOptions

    @Option(help: "GPU ids, comma-separated (one task per GPU at a time).")
    var gpus: String

    @Option(help: "The command to run per task (no shell; quotes group words; {task_type} is replaced).")
    var exec: String

    @Option(
        help: "The GPU probe run every heartbeat, printing nvidia-smi's CSV query format ('none': no readings; default: nvidia-smi when installed)."
    )
    var gpuProbe: String?

    @Option(help: "The command that loads and unloads models on request (JSON on standard input); without it loads are only recorded.")
    var modelExec: String?

    @Option(help: "Worker name (default: host-pid).")
    var name: String?

    @Option(help: "Lease of a running task in seconds; a worker silent this long is presumed dead.")
    var lease = 30

    func validate() throws {
        guard parsedGPUs() != nil else { throw ValidationError("--gpus must be GPU ids such as 0,1 (at most 64, no repeats)") }
        guard (2...3600).contains(lease) else { throw ValidationError("--lease must be 2 to 3600 seconds") }
        if let name, !(1...200).contains(name.count) { throw ValidationError("--name must be 1 to 200 characters") }
    }

    func parsedGPUs() -> [Int]? {
        let ids = gpus.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !ids.isEmpty, ids.count <= 64, ids.allSatisfy({ ($0 ?? -1) >= 0 && ($0 ?? 0) < 1024 }) else { return nil }
        let values = ids.compactMap { $0 }
        return Set(values).count == values.count ? values : nil
    }

    func run() async throws {
        try await Strata.guarded {
            let (configuration, logger) = try options.configuration()
            let command = try CommandTemplate(exec)
            let probe: GPUProbe? =
                switch gpuProbe {
                case nil: GPUProbe.nvidiaSMI()
                case "none": nil
                case let text?: GPUProbe(try CommandTemplate(text, option: "--gpu-probe"))
                }
            let modelCommand = try modelExec.map { try CommandTemplate($0, option: "--model-exec") }
            let gpuIDs = parsedGPUs() ?? []
            signal(SIGPIPE, SIG_IGN)  // a task command that closes its input early must not stop the worker
            var poolConfiguration = configuration.pool
            poolConfiguration.poolSize = min(poolConfiguration.poolSize, gpuIDs.count + 2)
            try await withDatabase(configuration, logger: logger, poolConfiguration: poolConfiguration) { pool, _ in
                let ready = try await pool.query("SELECT to_regclass('simjobs.tasks') IS NOT NULL").first?.decode(Bool.self) ?? false
                guard ready else {
                    throw StrataError(.notReady, "The simjobs schema is missing: run 'strata migrate up' (or start 'strata serve') first.")
                }
                var runnerConfiguration = TaskRunner.Configuration(
                    gpus: gpuIDs,
                    command: command,
                    lease: .seconds(lease),
                    gpuProbe: probe,
                    modelCommand: modelCommand
                )
                runnerConfiguration.heartbeatInterval = .seconds(max(1, lease / 5))
                if let name { runnerConfiguration.name = name }
                let runner = TaskRunner(pool: pool, configuration: runnerConfiguration, logger: logger)
                logger.notice(
                    "worker started",
                    metadata: ["simjobs.worker": "\(runnerConfiguration.name)", "simjobs.gpus": "\(gpuIDs.map(String.init).joined(separator: ","))"]
                )
                let group = ServiceGroup(
                    configuration: .init(
                        services: [.init(service: runner.worker()), .init(service: runner.presence()), .init(service: runner.modelLoader())],
                        gracefulShutdownSignals: [.sigterm, .sigint],
                        logger: logger
                    )
                )
                try await group.run()
            }
        }
    }
}

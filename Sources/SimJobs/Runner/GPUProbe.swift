public import Foundation
public import StrataCore

/// One GPU's state as its worker last measured it.
public struct GPUReading: Sendable, Codable, Equatable {
    public var gpuID: Int
    public var memoryFreeMB: Double?
    public var memoryTotalMB: Double?
    public var temperatureC: Double?
    public var utilizationPercent: Double?

    public init(gpuID: Int, memoryFreeMB: Double? = nil, memoryTotalMB: Double? = nil, temperatureC: Double? = nil, utilizationPercent: Double? = nil)
    {
        self.gpuID = gpuID
        self.memoryFreeMB = memoryFreeMB
        self.memoryTotalMB = memoryTotalMB
        self.temperatureC = temperatureC
        self.utilizationPercent = utilizationPercent
    }

    enum CodingKeys: String, CodingKey {
        case gpuID = "gpu_id"
        case memoryFreeMB = "memory_free_mb"
        case memoryTotalMB = "memory_total_mb"
        case temperatureC = "temperature_c"
        case utilizationPercent = "utilization_percent"
    }
}

/// Measures the worker's GPUs at every heartbeat by running the operator's probe command, whose
/// output is CSV in `nvidia-smi`'s query format — one line per GPU:
/// `index, memory.free [MiB], memory.total [MiB], temperature.gpu [°C], utilization.gpu [%]`
/// (values may carry units; `[N/A]` or a missing column is no value). By default the probe is
/// `nvidia-smi --query-gpu=index,memory.free,memory.total,temperature.gpu,utilization.gpu
/// --format=csv,noheader,nounits` when `nvidia-smi` is installed; `strata worker --gpu-probe`
/// names another command (AMD's, a wrapper, a test script) or `none`.
public struct GPUProbe: Sendable {
    /// The `nvidia-smi` query the default probe runs.
    public static let nvidiaSMIArguments = [
        "--query-gpu=index,memory.free,memory.total,temperature.gpu,utilization.gpu", "--format=csv,noheader,nounits",
    ]

    let command: OperatorCommand

    /// A probe running `command` (at most 10 s a reading).
    public init(_ command: CommandTemplate, timeout: Duration = .seconds(10)) {
        self.command = OperatorCommand(words: command.words, timeout: timeout)
    }

    /// `nvidia-smi`'s probe, when it is on `PATH`.
    public static func nvidiaSMI(path: String? = ProcessInfo.processInfo.environment["PATH"]) -> GPUProbe? {
        guard let smi = try? CommandTemplate("nvidia-smi", option: "--gpu-probe", path: path) else { return nil }
        return GPUProbe(CommandTemplate(words: smi.words + nvidiaSMIArguments))
    }

    /// Reads the GPUs of `gpus` (others the probe reports are left out).
    /// - Throws: when the probe cannot run, fails or times out.
    public func read(gpus: [Int]) async throws -> [GPUReading] {
        let outcome = try await command.run()
        guard outcome.succeeded else { throw StrataError(.gpuProbeFailed, "The GPU probe failed: \(outcome.failure).") }
        let wanted = Set(gpus)
        return Self.parse(outcome.output).filter { wanted.contains($0.gpuID) }
    }

    /// Parses the probe's CSV lines; lines that do not start with a GPU index are skipped.
    static func parse(_ lines: [String]) -> [GPUReading] {
        lines.compactMap { line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard let first = fields.first, let index = Int(first), index >= 0 else { return nil }
            func number(_ position: Int) -> Double? {
                guard position < fields.count else { return nil }
                let digits = fields[position].prefix { $0.isNumber || $0 == "." || $0 == "-" }
                return Double(digits).flatMap { $0.isFinite ? $0 : nil }
            }
            return GPUReading(gpuID: index, memoryFreeMB: number(1), memoryTotalMB: number(2), temperatureC: number(3), utilizationPercent: number(4))
        }
    }
}

extension StrataError.Code {
    /// The GPU probe could not run, failed or timed out.
    public static let gpuProbeFailed = Self("simjobs.gpu_probe_failed", kind: .unavailable)
}

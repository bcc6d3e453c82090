import Foundation
import StrataCore
import Synchronization

/// The figures of one workload run.
struct BenchResult: Sendable {
    var operations: Int
    var seconds: Double
    var p50: Double
    var p99: Double
    var opsPerSecond: Double { Double(operations) / seconds }

    /// Rounds of one workload as one result: their operations over their time, and the median
    /// of their percentiles.
    static func combined(_ rounds: [BenchResult]) -> BenchResult {
        BenchResult(
            operations: rounds.reduce(0) { $0 + $1.operations },
            seconds: rounds.reduce(0) { $0 + $1.seconds },
            p50: rounds.map(\.p50).sorted()[rounds.count / 2],
            p99: rounds.map(\.p99).sorted()[rounds.count / 2]
        )
    }
}

/// Runs `count` operations on `concurrency` tasks (each takes the next index until none is
/// left) and returns throughput and latency percentiles.
func measureConcurrently(
    _ count: Int,
    concurrency: Int,
    _ operation: @escaping @Sendable (Int) async throws -> Void
) async throws -> BenchResult {
    try await measureConcurrently(count, workers: concurrency) { _, index in try await operation(index) }
}

/// Runs `count` operations on `workers` tasks; each operation is told which worker runs it (so
/// that a worker can keep a connection of its own) and its index.
func measureConcurrently(
    _ count: Int,
    workers: Int,
    _ operation: @escaping @Sendable (_ worker: Int, _ index: Int) async throws -> Void
) async throws -> BenchResult {
    guard count > 0 else { return BenchResult(operations: 0, seconds: 1, p50: 0, p99: 0) }
    let next = TicketDispenser()
    let started = ContinuousClock.now
    let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
        for worker in 0..<workers {
            group.addTask {
                var local: [Double] = []
                local.reserveCapacity(count / workers + 1)
                while true {
                    let index = next.take()
                    if index >= count { break }
                    let start = ContinuousClock.now
                    try await operation(worker, index)
                    local.append(start.duration(to: .now).millisecondsDouble)
                }
                return local
            }
        }
        var all: [Double] = []
        for try await part in group { all += part }
        return all.sorted()
    }
    let seconds = started.duration(to: .now).secondsDouble
    return BenchResult(operations: count, seconds: seconds, p50: latencies.percentile(0.50), p99: latencies.percentile(0.99))
}

extension Array where Element == Double {
    /// The `p` quantile of sorted values (nearest rank).
    func percentile(_ p: Double) -> Double { isEmpty ? 0 : self[Swift.min(count - 1, Int(Double(count) * p))] }
}

/// Hands out 0, 1, 2, … to concurrent workers.
final class TicketDispenser: Sendable {
    private let counter = Atomic<Int>(0)

    func take() -> Int {
        counter.wrappingAdd(1, ordering: .relaxed).oldValue
    }
}

/// Peak resident memory of this process (VmHWM), in MiB; 0 when unknown.
func peakResidentMegabytes() -> Double {
    residentMegabytes(field: "VmHWM", process: "self") ?? 0
}

/// A memory field of `/proc/<process>/status` (`VmRSS`, `VmHWM` …), in MiB; nil when the
/// process or the field is missing.
func residentMegabytes(field: String, process: String) -> Double? {
    guard let status = try? String(contentsOfFile: "/proc/\(process)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
        let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return nil }
    return kilobytes / 1024
}

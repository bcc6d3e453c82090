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
}

/// Runs `count` operations on `concurrency` tasks (each takes the next index until none is
/// left) and returns throughput and latency percentiles.
func measureConcurrently(
    _ count: Int,
    concurrency: Int,
    _ operation: @escaping @Sendable (Int) async throws -> Void
) async throws -> BenchResult {
    guard count > 0 else { return BenchResult(operations: 0, seconds: 1, p50: 0, p99: 0) }
    let next = TicketDispenser()
    let started = ContinuousClock.now
    let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
        for _ in 0..<concurrency {
            group.addTask {
                var local: [Double] = []
                local.reserveCapacity(count / concurrency + 1)
                while true {
                    let index = next.take()
                    if index >= count { break }
                    let start = ContinuousClock.now
                    try await operation(index)
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
    func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
    return BenchResult(operations: count, seconds: seconds, p50: percentile(0.50), p99: percentile(0.99))
}

/// Hands out 0, 1, 2, … to concurrent workers.
final class TicketDispenser: Sendable {
    private let counter = Atomic<Int>(0)

    func take() -> Int {
        counter.wrappingAdd(1, ordering: .relaxed).oldValue
    }
}

/// Peak resident memory of this process (VmHWM), in MiB.
func peakResidentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
        let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kilobytes / 1024
}

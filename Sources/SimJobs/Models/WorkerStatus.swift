public import Foundation

/// A worker as `GET /api/simjobs/workers` shows it.
public struct WorkerStatus: Sendable, Codable, Equatable {
    /// `online` (seen within three heartbeat intervals), `offline` (silent longer: presumed
    /// dead; its tasks are rescued when their leases expire) or `stopped` (shut down cleanly).
    public enum State: String, Sendable, Codable {
        case online, offline, stopped
    }

    public var name: String
    public var hostname: String
    public var pid: Int
    public var gpus: [Int]
    public var busyGPUs: [Int]
    public var state: State
    /// Tasks ASSIGNED to or RUNNING on it.
    public var runningTasks: Int
    public var startedAt: Date
    public var lastSeenAt: Date
    /// Its GPUs as its probe last measured them (empty without a probe).
    public var gpuReadings: [GPUReading]
    public var gpuReadingsAt: Date?

    enum CodingKeys: String, CodingKey {
        case name, hostname, pid, gpus, state
        case busyGPUs = "busy_gpus"
        case runningTasks = "running_tasks"
        case startedAt = "started_at"
        case lastSeenAt = "last_seen_at"
        case gpuReadings = "gpu_readings"
        case gpuReadingsAt = "gpu_readings_at"
    }
}

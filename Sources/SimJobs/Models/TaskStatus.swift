public import StrataCore

/// A task's state, and the transitions the task server allows.
///
/// ```
/// PENDING → QUEUED (validated) → ASSIGNED (a worker with a free GPU claimed it) → RUNNING
///         → COMPLETED | FAILED | CANCELLED | TIMEOUT (terminal)
/// ```
/// Any non-terminal state can be cancelled or failed. ASSIGNED and RUNNING go back to QUEUED
/// only when their worker's lease expired and the task has retries left; a RUNNING task whose
/// lease expired with none left ends in TIMEOUT. The terminal states are the task's
/// `is_completed`. A refused change is the platform's 409 `transition_refused`
/// (``StatusMachine``).
public enum TaskStatus: String, StatusMachine, Codable {
    case pending = "PENDING"
    case queued = "QUEUED"
    case assigned = "ASSIGNED"
    case running = "RUNNING"
    case completed = "COMPLETED"
    case failed = "FAILED"
    case cancelled = "CANCELLED"
    case timeout = "TIMEOUT"

    public static let resourceName = "task"

    /// The states this one may move to.
    public var allowedNext: [TaskStatus] {
        switch self {
        case .pending: [.queued, .cancelled, .failed]
        case .queued: [.assigned, .cancelled, .failed]
        case .assigned: [.running, .queued, .cancelled, .failed]
        case .running: [.completed, .failed, .cancelled, .timeout, .queued]
        case .completed, .failed, .cancelled, .timeout: []
        }
    }
}

/// The six simulations the server runs.
public enum TaskType: String, Sendable, Codable, CaseIterable {
    case optimization
    case stability
    case bulkModulus = "bulk-modulus"
    case heatCapacity = "heat-capacity"
    case interactionEnergy = "interaction-energy"
    case singlePointEnergy = "single-point-energy"
}

/// A task's priority: lower runs first.
public enum TaskPriority: Int, Sendable, Codable, CaseIterable {
    case critical = 0
    case high = 1
    case normal = 2
    case low = 3

    /// Reads `0`–`3` or `CRITICAL`/`HIGH`/`NORMAL`/`LOW` (any case).
    public init?(text: String) {
        if let number = Int(text), let priority = TaskPriority(rawValue: number) {
            self = priority
            return
        }
        switch text.uppercased() {
        case "CRITICAL": self = .critical
        case "HIGH": self = .high
        case "NORMAL": self = .normal
        case "LOW": self = .low
        default: return nil
        }
    }

    /// Reads a JSON number 0–3 or a name as ``init(text:)``.
    public init?(json: JSONValue) {
        switch json {
        case .number(let number) where number == number.rounded() && abs(number) < 1000: self.init(rawValue: Int(number))
        case .string(let text): self.init(text: text)
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .critical: "CRITICAL"
        case .high: "HIGH"
        case .normal: "NORMAL"
        case .low: "LOW"
        }
    }
}

public import StrataCore

/// A workflow's status, stored as the seed code's integers (Draft 1, Disabled 99, Active 100)
/// and named in the API.
public enum WorkflowStatus: String, StatusMachine, StoredAsInteger, Codable {
    case draft
    case disabled
    case active

    public static let resourceName = "workflow"

    public var allowedNext: [WorkflowStatus] {
        switch self {
        case .draft: [.active, .disabled]
        case .active: [.disabled]
        case .disabled: [.active]
        }
    }

    /// The stored integer.
    public var code: Int32 {
        switch self {
        case .draft: 1
        case .disabled: 99
        case .active: 100
        }
    }

}

/// An execution's status, stored as the seed code's integers.
///
/// New → Running → Success | Failed | Cancelled | Crashed; Running ↔ Waiting (until
/// `wait_till`); a New or Waiting execution may be cancelled, and a Waiting one crash.
public enum ExecutionStatus: String, StatusMachine, StoredAsInteger, Codable {
    case new
    case running
    case waiting
    case cancelled
    case crashed
    case failed
    case success

    public static let resourceName = "execution"

    public var allowedNext: [ExecutionStatus] {
        switch self {
        case .new: [.running, .cancelled]
        case .running: [.success, .failed, .cancelled, .crashed, .waiting]
        case .waiting: [.running, .cancelled, .crashed]
        case .cancelled, .crashed, .failed, .success: []
        }
    }

    /// The stored integer (New 1, Running 10, Waiting 11, Cancelled 97, Crashed 98, Failed 99,
    /// Success 100).
    public var code: Int32 {
        switch self {
        case .new: 1
        case .running: 10
        case .waiting: 11
        case .cancelled: 97
        case .crashed: 98
        case .failed: 99
        case .success: 100
        }
    }

    /// The stored integers of the states that may move to `target`: a guarded UPDATE's array.
    static func sourceCodes(of target: ExecutionStatus) -> [Int32] { sources(of: target).map(\.code) }
}

/// How an execution was started, stored as an integer (manual 1, trigger 2, webhook 3, retry 4).
public enum ExecutionMode: String, StoredAsInteger, Codable, Sendable {
    case manual
    case trigger
    case webhook
    case retry

    /// The stored integer.
    public var code: Int32 {
        switch self {
        case .manual: 1
        case .trigger: 2
        case .webhook: 3
        case .retry: 4
        }
    }

}

/// An enum stored as the seed code's integers (`code`) and named in the API.
public protocol StoredAsInteger: CaseIterable {
    /// The stored integer.
    var code: Int32 { get }
}

extension StoredAsInteger {
    /// The case stored as `code`; `nil` for an integer no case has.
    public init?(code: Int32) {
        guard let found = Self.allCases.first(where: { $0.code == code }) else { return nil }
        self = found
    }
}

import Synchronization

/// A counter that concurrent test tasks share (attempts, loads, workers still running).
public final class TestCounter: Sendable {
    private let count: Atomic<Int>

    public init(_ initial: Int = 0) {
        count = Atomic(initial)
    }

    public func increment() { count.wrappingAdd(1, ordering: .relaxed) }
    public func decrement() { count.wrappingSubtract(1, ordering: .relaxed) }
    public var value: Int { count.load(ordering: .relaxed) }
}

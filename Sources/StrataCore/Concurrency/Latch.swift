import Synchronization

/// A one-way latch: one task sets it (a stop or cancel request), others read it; it never resets.
public final class Latch: Sendable {
    private let value = Atomic<Bool>(false)

    public init() {}

    /// Whether the latch was set.
    public var isSet: Bool { value.load(ordering: .acquiring) }

    /// Sets the latch.
    public func set() { value.store(true, ordering: .releasing) }
}

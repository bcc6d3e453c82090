public import Logging
public import PostgresNIO
import Synchronization

/// One request's audit bookkeeping: the request's facts and whether the change it made has
/// been recorded.
///
/// Every request context has one; the HTTP audit middleware fills in the facts of mutating
/// requests (authentication, earlier, has set the actor). A service that changes data
/// records its entry in its transaction through ``ChangeLog`` (its ``Caller`` carries the
/// trail); when the request
/// ends without one (it was rejected, or the route records nothing), the middleware writes an
/// entry with the response status afterwards, so every mutating request leaves a trace.
public final class AuditTrail: Sendable {
    private struct State {
        var facts: AuditRecord.RequestFacts
        var recorded = false
        var actor: String?
    }

    private let state: Mutex<State>

    public init(facts: AuditRecord.RequestFacts = .init()) {
        self.state = Mutex(State(facts: facts))
    }

    /// The request's facts.
    public var facts: AuditRecord.RequestFacts {
        get { state.withLock { $0.facts } }
        set { state.withLock { $0.facts = newValue } }
    }

    /// Whether an entry has been recorded for this request.
    public var isRecorded: Bool { state.withLock { $0.recorded } }

    /// The authenticated actor, once known (set by authentication; used by the fallback entry).
    public var actor: String? {
        get { state.withLock { $0.actor } }
        set { state.withLock { $0.actor = newValue } }
    }

    /// Records `record` with this request's facts, in the caller's transaction.
    /// - Returns: The entry's id.
    @discardableResult
    public func record(_ record: AuditRecord, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        let id = try await AuditWriter().record(completed(record), on: connection, logger: logger)
        state.withLock { $0.recorded = true }
        return id
    }

    /// Marks the request as audited (``ChangeLog`` records the entry itself).
    func markRecorded() {
        state.withLock { $0.recorded = true }
    }

    /// `record` with this request's facts and actor where it has none of its own (what
    /// ``record(_:on:logger:)`` stores; a store of its own, such as an app's demo mode, keeps
    /// the same).
    public func completed(_ record: AuditRecord) -> AuditRecord {
        var record = record
        let (facts, actor) = state.withLock { ($0.facts, $0.actor) }
        if record.request == .init() { record.request = facts }
        if record.actor == nil { record.actor = actor }
        return record
    }
}

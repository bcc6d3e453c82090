public import Logging
public import PostgresNIO
import Synchronization

/// One request's audit bookkeeping: the request's facts and whether the change it made has
/// been recorded.
///
/// The HTTP audit middleware makes one per mutating request. A service that changes data
/// records its entry in its transaction through ``record(_:on:logger:)``; when the request
/// ends without one (it was rejected, or the route records nothing), the middleware writes an
/// entry with the response status afterwards, so every mutating request leaves a trace.
public final class AuditTrail: Sendable {
    /// The request's facts.
    public let facts: AuditRecord.RequestFacts
    private let state = Mutex<(recorded: Bool, actor: String?)>((false, nil))

    public init(facts: AuditRecord.RequestFacts = .init()) {
        self.facts = facts
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
        var record = record
        if record.request == .init() { record.request = facts }
        if record.actor == nil { record.actor = actor }
        let id = try await AuditWriter().record(record, on: connection, logger: logger)
        state.withLock { $0.recorded = true }
        return id
    }
}

public import StrataCore

/// What one change records beside its domain statements, in the same transaction: its outbox
/// events, its audit entry, the jobs it sets off (webhook deliveries, follow-up work) and the
/// status transitions its app keeps a history of.
/// ``ChangeLog/record(_:by:on:logger:)`` writes it; the caller's facts fill in the actor and
/// request of each part.
///
/// ```swift
/// let change = Change(
///     app: "simjobs", action: "cancel", resourceType: "task", resourceID: "\(task.id)", status: 200,
///     events: [try OutboxEvent(app: "simjobs", aggregateType: "task", aggregateID: "\(task.id)",
///                              kind: "task.cancelled", payload: task)]
/// )
/// try await ChangeLog.record(change, by: caller, on: connection, logger: logger)
/// ```
public struct Change: Sendable, Equatable {
    /// The events, in order.
    public var events: [OutboxEvent]
    /// The audit entry; `nil` for a change nobody asked for by request and that the events
    /// already tell (a worker's progress, a lease expiring).
    public var audit: AuditRecord?
    /// Jobs to enqueue with the change (they exist if and only if it commits).
    public var jobs: [NewJob]
    /// Status changes to keep in their app's ``StatusHistory``.
    public var transitions: [StatusTransition]

    /// A change from its parts.
    public init(events: [OutboxEvent] = [], audit: AuditRecord? = nil, jobs: [NewJob] = [], transitions: [StatusTransition] = []) {
        self.events = events
        self.audit = audit
        self.jobs = jobs
        self.transitions = transitions
    }

    /// A change with an audit entry of `action` on one resource, and its events.
    /// - Parameters:
    ///   - status: The HTTP status the request answers with, when a request made the change.
    ///   - details: More to keep in the audit entry (a JSON object).
    public init(
        app: String,
        action: String,
        resourceType: String,
        resourceID: String?,
        status: Int? = nil,
        details: [String: JSONValue] = [:],
        events: [OutboxEvent] = [],
        jobs: [NewJob] = [],
        transitions: [StatusTransition] = []
    ) {
        self.init(
            app: app,
            action: action,
            resourceType: resourceType,
            resourceID: resourceID,
            status: status,
            detailsJSON: details.isEmpty ? "{}" : JSONValue.object(details).text,
            events: events,
            jobs: jobs,
            transitions: transitions
        )
    }

    /// A change as ``init(app:action:resourceType:resourceID:status:details:events:jobs:transitions:)``,
    /// its audit details already JSON text (an object), for changes made often.
    public init(
        app: String,
        action: String,
        resourceType: String,
        resourceID: String?,
        status: Int? = nil,
        detailsJSON: String,
        events: [OutboxEvent] = [],
        jobs: [NewJob] = [],
        transitions: [StatusTransition] = []
    ) {
        self.init(
            events: events,
            audit: AuditRecord(
                app: app,
                actor: nil,
                action: action,
                resourceType: resourceType,
                resourceID: resourceID,
                responseStatus: status,
                detailsJSON: detailsJSON
            ),
            jobs: jobs,
            transitions: transitions
        )
    }

    /// The change as it is stored for `caller`: each event's actor and request id, and the
    /// audit entry's actor and request facts, filled in where the change names none.
    public func completed(by caller: Caller) -> Change {
        var change = self
        for index in change.events.indices {
            if change.events[index].actor == nil { change.events[index].actor = caller.actor }
            if change.events[index].requestID == nil { change.events[index].requestID = caller.requestID ?? caller.traceID }
        }
        for index in change.transitions.indices {
            if change.transitions[index].actor == nil { change.transitions[index].actor = caller.actor }
            if change.transitions[index].requestID == nil { change.transitions[index].requestID = caller.requestID }
        }
        if var record = change.audit {
            if record.actor == nil { record.actor = caller.actor }
            record = caller.audit.completed(record)
            if record.request.requestID == nil { record.request.requestID = caller.requestID }
            if record.request.traceID == nil { record.request.traceID = caller.traceID }
            change.audit = record
        }
        return change
    }
}

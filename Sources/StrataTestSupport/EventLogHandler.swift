public import Logging

/// A log handler that hands every event, with the logger's metadata merged into the event's,
/// to a closure: the base of the tests' log captures and counters.
///
/// ```swift
/// let logger = Logger(label: "capture") { _ in EventLogHandler { event, metadata in lines.append("\(event.message)") } }
/// ```
public struct EventLogHandler: LogHandler {
    private let onEvent: @Sendable (LogEvent, Logger.Metadata) -> Void
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public init(_ onEvent: @escaping @Sendable (LogEvent, Logger.Metadata) -> Void) {
        self.onEvent = onEvent
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        onEvent(event, metadata.merging(event.metadata ?? [:]) { $1 })
    }
}

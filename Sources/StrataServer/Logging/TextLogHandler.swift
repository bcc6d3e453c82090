import Foundation
public import Logging

/// A log handler that writes one line of text per event to standard error, as swift-log's
/// `StreamLogHandler` does: `2026-11-23T08:10:59.123Z info strata : key=value [Module] message`.
///
/// Unlike `StreamLogHandler`, setting a metadata value only stores it: the metadata is formatted
/// when an event is written. Every request sets its id in its logger's metadata, and most
/// requests write nothing.
public struct TextLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        FileHandle.standardError.write(Data(line(for: event, at: JSONLogHandler.timestamp()).utf8))
    }

    /// The line written for `event`: the handler's metadata and the event's (which wins), by key.
    func line(for event: LogEvent, at timestamp: String) -> String {
        let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let pairs = all.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
        return "\(timestamp) \(event.level) \(label) :\(pairs) [\(event.source)] \(event.message)\n"
    }
}

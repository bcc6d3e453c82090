import Foundation
public import Logging

/// The server's log handler: one line per event on standard error, in ``ServerConfiguration/LogFormat``:
///
/// - `json`: `{"ts":"2026-11-22T17:40:59.123Z","level":"info","label":"strata","msg":"request",…metadata}`;
/// - `text`: `2026-11-23T08:10:59.123Z info strata : key=value [Module] message`, as swift-log's
///   `StreamLogHandler` writes it.
///
/// Setting a metadata value only stores it; metadata is formatted when a line is written.
/// (`StreamLogHandler` formats all of it on every change, and every request sets its id in its
/// logger's metadata, while most requests write nothing.)
public struct StrataLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let label: String
    let format: ServerConfiguration.LogFormat

    public init(label: String, level: Logger.Level, format: ServerConfiguration.LogFormat) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        guard let line = line(for: event, at: Self.timestamp()) else { return }
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// The line written for `event` (with its newline): the handler's metadata and the event's
    /// (which wins); `nil` when it cannot be written.
    func line(for event: LogEvent, at timestamp: String) -> String? {
        let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        switch format {
        case .text:
            let pairs = all.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
            return "\(timestamp) \(event.level) \(label) :\(pairs) [\(event.source)] \(event.message)\n"
        case .json:
            var object: [String: Any] = ["ts": timestamp, "level": event.level.rawValue, "label": label, "msg": event.message.description]
            for (key, value) in all { object[key] = Self.plain(value) }
            guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
                return nil
            }
            return String(decoding: data, as: UTF8.self) + "\n"
        }
    }

    static func plain(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): values.map(plain)
        case .dictionary(let values): values.mapValues(plain)
        }
    }

    private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func timestamp() -> String {
        timestampStyle.format(Date())
    }
}

/// Sets up swift-log once per process.
public enum LoggingSetup {
    /// Bootstraps logging with the level and format; later calls are ignored.
    public static func bootstrap(level: Logger.Level, format: ServerConfiguration.LogFormat) {
        once.withLock { done in
            guard !done else { return }
            done = true
            LoggingSystem.bootstrap { label in StrataLogHandler(label: label, level: level, format: format) }
        }
    }

    private static let once = NSLock.Protected(false)
}

extension NSLock {
    /// A value guarded by a lock.
    final class Protected<Value>: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Value
        init(_ value: Value) { self.value = value }
        func withLock<T>(_ body: (inout Value) -> T) -> T {
            lock.lock()
            defer { lock.unlock() }
            return body(&value)
        }
    }
}

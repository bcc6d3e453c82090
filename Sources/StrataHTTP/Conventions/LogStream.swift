public import Foundation
public import Hummingbird
import NIOCore
import ServiceLifecycle
public import StrataCore

/// A resource's log as Server-Sent Events, live: a simjobs task's, a workflow execution's.
///
/// Each line is an event `log` whose `id` is the line's id, so a client that reconnects with
/// `Last-Event-ID` (or `?after=`) continues where it stopped. New lines are looked for every
/// 250 ms (the pace at which workers write them); when the resource has ended and every line
/// was sent, an event `end` with its status closes the stream. A comment line every 15 s keeps
/// idle connections open; a stopping server ends the stream (clients reconnect).
///
/// ```swift
/// LogStream(after: resume, status: { try await service.status(id) }, lines: { after, limit in
///     try await service.logs(id, afterID: after, limit: limit)
/// }, id: \.id).response()
/// ```
public struct LogStream<Line: Encodable & Sendable>: Sendable {
    /// Where the resource stands: whether it has ended (no line will follow) and its status's
    /// name, sent with the `end` event.
    public typealias Status = (ended: Bool, name: String)

    let after: Int64
    let status: @Sendable () async throws -> Status
    let lines: @Sendable (_ after: Int64, _ limit: Int) async throws -> [Line]
    let id: @Sendable (Line) -> Int64
    var pollInterval: Duration = .milliseconds(250)
    var heartbeat: Duration = .seconds(15)

    /// - Parameters:
    ///   - after: The last line id the client has (0 for all).
    ///   - status: Reads the resource's status; read before each batch of lines, so that lines
    ///     written before it ended are all sent before the end.
    ///   - lines: Reads up to `limit` lines after a line id, in id order.
    ///   - id: A line's id.
    public init(
        after: Int64,
        status: @escaping @Sendable () async throws -> Status,
        lines: @escaping @Sendable (_ after: Int64, _ limit: Int) async throws -> [Line],
        id: @escaping @Sendable (Line) -> Int64
    ) {
        self.after = after
        self.status = status
        self.lines = lines
        self.id = id
    }

    /// The `Last-Event-ID` of a reconnecting client: the last line id it got.
    /// - Throws: `invalid_value` for a header that is not a line id.
    public static func lastEventID(_ request: Request) throws -> Int64? {
        guard let text = request.headers[.lastEventID] else { return nil }
        guard let id = Int64(text), id >= 0 else {
            throw StrataError(.invalidValue, "Last-Event-ID must be a log line id (a whole number).", details: ["field": "Last-Event-ID"])
        }
        return id
    }

    /// The streaming response.
    public func response() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        headers[.init("X-Accel-Buffering")!] = "no"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in try await stream(to: &writer) })
    }

    private func stream(to writer: inout some ResponseBodyWriter) async throws {
        let encoder = JSONEncoder.api()
        var last = after
        var lastWrite = ContinuousClock.now
        try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
        let stopping = Latch()
        try await withGracefulShutdownHandler {
            while !Task.isCancelled && !stopping.isSet {
                let current = try await status()
                let batch = try await lines(last, 500)
                if let newest = batch.last {
                    var text = ""
                    for line in batch {
                        text += "id: \(id(line))\nevent: log\ndata: \(String(decoding: try encoder.encode(line), as: UTF8.self))\n\n"
                    }
                    try await writer.write(ByteBuffer(string: text))
                    last = id(newest)
                    lastWrite = .now
                    if batch.count == 500 { continue }
                }
                if current.ended {
                    try await writer.write(ByteBuffer(string: "event: end\ndata: {\"status\":\(JSONText.quoted(current.name))}\n\n"))
                    break
                }
                if lastWrite.duration(to: .now) >= heartbeat {
                    try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                    lastWrite = .now
                }
                try await Task.sleep(for: pollInterval)
            }
        } onGracefulShutdown: {
            stopping.set()
        }
        try await writer.finish(nil)
    }
}

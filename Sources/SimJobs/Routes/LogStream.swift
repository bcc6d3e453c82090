import Foundation
import Hummingbird
import NIOCore
import ServiceLifecycle
import StrataCore
import StrataHTTP

/// `GET /api/simjobs/tasks/{id}/logs/stream`: a task's log as Server-Sent Events, live.
///
/// Each line is an event `log` whose `id` is the line's id, so a client that reconnects with
/// `Last-Event-ID` (or `?after=`) continues where it stopped. New lines are looked for every
/// 250 ms (the pace at which workers write them); when the task has ended and every line was
/// sent, an event `end` with its status closes the stream. A comment line every 15 s keeps idle
/// connections open; a stopping server ends the stream (clients reconnect).
struct LogStream: Sendable {
    let service: TaskService
    let taskID: UUID
    let after: Int64
    let level: String?
    var pollInterval: Duration = .milliseconds(250)
    var heartbeat: Duration = .seconds(15)

    func response() -> Response {
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
                // Read the status first: lines written before it ended are all visible after.
                let status = try await service.status(taskID)
                let lines = try await service.logs(taskID, afterID: last, limit: 500, level: level)
                if !lines.isEmpty {
                    var text = ""
                    for line in lines {
                        text += "id: \(line.id)\nevent: log\ndata: \(String(decoding: try encoder.encode(line), as: UTF8.self))\n\n"
                    }
                    try await writer.write(ByteBuffer(string: text))
                    last = lines[lines.count - 1].id
                    lastWrite = .now
                    if lines.count == 500 { continue }
                }
                if status.isTerminal {
                    try await writer.write(ByteBuffer(string: "event: end\ndata: {\"status\":\"\(status.rawValue)\"}\n\n"))
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

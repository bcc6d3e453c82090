import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Synchronization

/// What a Server-Sent Events client receives from `path` on a local server within `seconds`,
/// sending `headers`. The stream is cut at the deadline, which is not an error, or as soon as a
/// line equal to `until` arrives (so a test waiting for one event waits no longer than that
/// takes, while a loaded machine still gets the whole deadline).
///
/// ```swift
/// async let text = readEventStream(port: port, path: "/api/events?app=orders", headers: ["X-API-Key": key], seconds: 3)
/// ```
public func readEventStream(port: Int, path: String, headers: [String: String], seconds: Double, until: String? = nil) async throws -> String {
    var stream = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
    for (name, value) in headers { stream.headers.add(name: name, value: value) }
    let received = Received()
    let request = stream
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            let response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(Int64(seconds * 1000)))
            for try await chunk in response.body {
                let text = received.text.withLock { text in
                    text += String(buffer: chunk)
                    return text
                }
                if let until, text.split(separator: "\n", omittingEmptySubsequences: false).contains(Substring(until)) { return }
            }
        }
        group.addTask { try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000))) }
        // Whichever ends first (the awaited line, the stream's end, the deadline) ends the read.
        defer { group.cancelAll() }
        do {
            try await group.next()
        } catch is CancellationError {
        } catch let error as HTTPClientError where error == .cancelled || error == .deadlineExceeded {
        }
    }
    return received.text.withLock { $0 }
}

/// What a stream reader has received so far.
private final class Received: Sendable {
    let text = Mutex("")
}

import StrataCore

/// What a Server-Sent Events client (`curl -N`) receives from `path` on a local server within
/// `seconds`, sending `headers`. The stream is cut at the deadline, which is not an error.
///
/// ```swift
/// async let text = readEventStream(port: port, path: "/api/events?app=orders", headers: ["X-API-Key": key], seconds: 3)
/// ```
public func readEventStream(port: Int, path: String, headers: [String: String], seconds: Double) async throws -> String {
    // Values come from tests, not from input; single quotes keep the shell from reading them.
    let options = headers.sorted { $0.key < $1.key }.map { "-H '\($0.key): \($0.value)'" }.joined(separator: " ")
    return try await ChildProcess.run("/bin/sh", ["-c", "curl -sN --max-time \(seconds) \(options) 'http://127.0.0.1:\(port)\(path)'; exit 0"])
}

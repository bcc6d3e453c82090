import Foundation
import StrataCore

#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP client socket on loopback, for tests that must see what a raw client sees:
/// whether `connect` was refused, whether a connection the server accepted was reset, when the
/// server closed it, and the exact bytes it answered.
final class LoopbackSocket: @unchecked Sendable {
    let descriptor: Int32

    /// What `connect` gave when it did not connect (`ECONNREFUSED`, …).
    struct ConnectFailure: Error {
        let code: Int32
        var refused: Bool { code == ECONNREFUSED }
    }

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit { Glibc.close(descriptor) }

    /// Runs blocking client code on a thread of its own, so that sockets waiting on the server
    /// do not hold the few threads Swift concurrency shares with the rest of the test run.
    /// Assertions belong after it returns, in the test's task.
    static func onThread<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    /// Connects to `127.0.0.1:port` (blocking, as a client library would).
    static func connect(port: Int) throws(ConnectFailure) -> LoopbackSocket {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw ConnectFailure(code: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw ConnectFailure(code: code)
        }
        return LoopbackSocket(descriptor: descriptor)
    }

    /// Ends the connection from this side (the descriptor itself is closed with the object).
    func close() { shutdown(descriptor, Int32(SHUT_RDWR)) }

    /// Sends `text` whole; false when the connection is gone.
    @discardableResult
    func send(_ text: String) -> Bool {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let sent = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return false }
            bytes = bytes.dropFirst(sent)
        }
        return true
    }

    /// How a read ended.
    enum Ending: Equatable {
        /// The server closed the connection (EOF).
        case closed
        /// The connection was reset.
        case reset
        /// Nothing more within the time given; still open.
        case timedOut
    }

    /// Reads until the server closes the connection, it is reset, `stopAt` returns true for
    /// what arrived so far, or `timeout` passes.
    func read(timeout: Duration, stopAt: (String) -> Bool = { _ in false }) -> (text: String, ending: Ending, after: Duration) {
        let start = ContinuousClock.now
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let left = timeout - start.duration(to: .now)
            if left <= .zero { return (String(decoding: received, as: UTF8.self), .timedOut, start.duration(to: .now)) }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(max(1, left.milliseconds)))
            if ready == 0 { continue }
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received += buffer[0..<count]
                if stopAt(String(decoding: received, as: UTF8.self)) {
                    return (String(decoding: received, as: UTF8.self), .timedOut, start.duration(to: .now))
                }
                continue
            }
            if count < 0 && errno == EINTR { continue }
            let ending: Ending = count == 0 ? .closed : .reset
            return (String(decoding: received, as: UTF8.self), ending, start.duration(to: .now))
        }
    }

    /// Whether the server has closed (or reset) the connection, without waiting.
    var isClosedByServer: Bool {
        var byte: UInt8 = 0
        let count = recv(descriptor, &byte, 1, Int32(MSG_DONTWAIT) | Int32(MSG_PEEK))
        if count == 0 { return true }
        return count < 0 && errno != EAGAIN && errno != EWOULDBLOCK
    }

    /// One `GET` with `Connection: close`, read to its end: the status line's code, or nil
    /// when the connection ended without an answer.
    static func get(port: Int, path: String) throws(ConnectFailure) -> (status: Int?, text: String) {
        try request(port: port, "GET", path)
    }

    /// One request with `Connection: close`, read to its end: the whole answer as text.
    static func request(
        port: Int,
        _ method: String,
        _ path: String,
        headers: [String: String] = [:],
        body: String = ""
    ) throws(ConnectFailure) -> (status: Int?, text: String) {
        let socket = try connect(port: port)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: strata\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        guard socket.send(head + "\r\n" + body) else { return (nil, "") }
        let text = socket.read(timeout: .seconds(60)).text
        return (statusCode(of: text), text)
    }

    /// The status code of an HTTP/1.1 answer's first line.
    static func statusCode(of text: String) -> Int? {
        guard text.hasPrefix("HTTP/1.1 "), text.utf8.count >= 12 else { return nil }
        return Int(text.dropFirst(9).prefix(3))
    }
}

import Foundation
import StrataCore
import StrataTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The server's connection policy against `strata serve` over loopback: timeouts close silent,
/// idle and slow connections, the connection bound refuses cheaply, and a SIGTERM under load
/// answers every request the kernel accepted. One test at a time: each loads the machine, and
/// the other suites share it.
@Suite(.serialized) struct HTTPConnectionPolicyTests {
    /// How one raw connection ended: its answer's status, how it ended, and when.
    struct ConnectionEnd: Sendable {
        let status: Int?
        let text: String
        let ending: LoopbackSocket.Ending
        /// From `since` (what the client last sent) to the end of the read.
        let after: Duration

        init(_ read: (text: String, ending: LoopbackSocket.Ending, after: Duration), since: ContinuousClock.Instant = .now) {
            status = LoopbackSocket.statusCode(of: read.text)
            text = read.text
            ending = read.ending
            after = since.duration(to: .now)
        }

        /// Closed by the server between `low` and `high` after the last thing the client sent.
        func closed(between low: Duration, and high: Duration) -> Bool {
            ending == .closed && after >= low && after < high
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func silentIdleAndStalledConnectionsAreClosedInTime() async throws {
        let variables = ["HTTP_HEADER_TIMEOUT": "1s", "HTTP_BODY_TIMEOUT": "1s", "HTTP_KEEPALIVE_TIMEOUT": "1s"]
        try await ServedProcess.with(variables: variables) { server in
            let port = server.port
            let (silent, keptAlive, idle, slowHead, stalled) = try await LoopbackSocket.onThread {
                // Four connections at once, each timed from what it last sent.
                let silent = try LoopbackSocket.connect(port: port)
                let silentSince = ContinuousClock.now
                let idle = try LoopbackSocket.connect(port: port)
                idle.send("GET /health HTTP/1.1\r\nHost: strata\r\n\r\n")
                let keptAlive = ConnectionEnd(idle.read(timeout: .seconds(10)) { $0.hasSuffix("}") })
                let idleSince = ContinuousClock.now
                let slowHead = try LoopbackSocket.connect(port: port)
                slowHead.send("GET /health HTTP/1.1\r\nHo")
                let slowHeadSince = ContinuousClock.now
                let stalled = try LoopbackSocket.connect(port: port)
                stalled.send(
                    "POST /api/workorders/orders HTTP/1.1\r\nHost: strata\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ti"
                )
                let stalledSince = ContinuousClock.now
                return (
                    ConnectionEnd(silent.read(timeout: .seconds(10)), since: silentSince), keptAlive,
                    ConnectionEnd(idle.read(timeout: .seconds(10)), since: idleSince),
                    ConnectionEnd(slowHead.read(timeout: .seconds(10)), since: slowHeadSince),
                    ConnectionEnd(stalled.read(timeout: .seconds(10)), since: stalledSince)
                )
            }
            #expect(silent.text.isEmpty && silent.closed(between: .milliseconds(900), and: .seconds(3)), "\(silent)")
            #expect(keptAlive.status == 200)
            #expect(idle.text.isEmpty && idle.closed(between: .milliseconds(900), and: .seconds(3)), "\(idle)")
            #expect(slowHead.status == 408 && slowHead.closed(between: .milliseconds(800), and: .seconds(3)), "\(slowHead)")
            #expect(slowHead.text.lowercased().contains("connection: close"))
            #expect(stalled.status == 408 && stalled.closed(between: .milliseconds(800), and: .seconds(3)), "\(stalled)")

            let closed = "strata_http_connections_closed_total"
            #expect(try await server.metric(closed + #"{reason="header_timeout"}"#) == 2)
            #expect(try await server.metric(closed + #"{reason="keepalive_timeout"}"#) == 1)
            #expect(try await server.metric(closed + #"{reason="body_timeout"}"#) == 1)
            #expect(!server.output.contains("internal_error"), "a client that stalls is not a server error: \(server.output)")
        }
    }

    /// `count` requests one after another, each on a new connection: their latencies, sorted.
    static func latencies(port: Int, count: Int) async throws -> [Duration] {
        try await LoopbackSocket.onThread {
            var latencies: [Duration] = []
            for _ in 0..<count {
                let start = ContinuousClock.now
                let answer = try LoopbackSocket.get(port: port, path: "/health")
                guard answer.status == 200 else { throw StrataError(.internalError, "/health answered \(String(describing: answer))") }
                latencies.append(start.duration(to: .now))
            }
            return latencies.sorted()
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func fiveHundredSlowHeaderClientsAreClosedAndOthersKeepTheirLatency() async throws {
        try await ServedProcess.with(variables: ["HTTP_HEADER_TIMEOUT": "3s"]) { server in
            let port = server.port
            let before = try await Self.latencies(port: port, count: 40)
            // 500 clients that send a request head two bytes every 100 ms, stopping short of the
            // timeout (bytes sent after the server closed would be answered with a reset, which
            // discards the 408 before the client reads it).
            let head = Array("GET /health HTTP/1.1\r\nHost: strata\r\nX-Slow: \(String(repeating: "a", count: 200))\r\n\r\n".utf8)
            let slow = try await LoopbackSocket.onThread { try (0..<500).map { _ in try LoopbackSocket.connect(port: port) } }
            let opened = ContinuousClock.now
            let stopTrickle = TestCounter(0)
            Thread {
                var offset = 0
                while stopTrickle.value == 0 && opened.duration(to: .now) < .milliseconds(2500) {
                    for socket in slow { socket.send(String(decoding: head[offset..<offset + 2], as: UTF8.self)) }
                    offset += 2
                    Thread.sleep(forTimeInterval: 0.1)
                }
            }.start()
            let during = try await Self.latencies(port: port, count: 40)
            // Every slow client is answered 408 and closed by the header timeout.
            let answered408 = try await LoopbackSocket.onThread {
                slow.filter { socket in
                    let end = ConnectionEnd(socket.read(timeout: .seconds(10) - opened.duration(to: .now)))
                    return end.ending == .closed && end.status == 408
                }.count
            }
            let allClosedAfter = opened.duration(to: .now)
            stopTrickle.increment()
            let p50 = { (values: [Duration]) in values[values.count / 2].millisecondsDouble }
            let p99 = { (values: [Duration]) in values[values.count * 99 / 100].millisecondsDouble }
            print(
                "slow_clients: 500 trickling heads; /health p50 \(p50(before)) → \(p50(during)) ms, "
                    + "p99 \(p99(before)) → \(p99(during)) ms; \(answered408) answered 408 and closed within "
                    + "\(allClosedAfter.millisecondsDouble) ms"
            )
            #expect(answered408 == 500)
            #expect(allClosedAfter < .seconds(6), "the header timeout is 3 s")
            // The median, not the tail: other test suites share the machine's two cores.
            #expect(p50(during) < max(100, p50(before) * 5), "requests beside the slow clients keep their latency")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func connectionsBeyondTheBoundAreClosedAtOnce() async throws {
        try await ServedProcess.with(variables: ["HTTP_MAX_CONNECTIONS": "20"]) { server in
            let port = server.port
            let held = try await LoopbackSocket.onThread { try (0..<30).map { _ in try LoopbackSocket.connect(port: port) } }
            try await Task.sleep(for: .milliseconds(500))
            // 20 kept and the rest closed at once — one more when the server has not yet seen the
            // readiness probe's connection close (it counts until then).
            let closed = held.filter(\.isClosedByServer).count
            #expect((10...11).contains(closed), "20 kept, the rest closed at once (\(closed) closed)")
            for socket in held { socket.close() }
            try await Task.sleep(for: .milliseconds(300))
            let after = try await LoopbackSocket.onThread { try LoopbackSocket.get(port: port, path: "/health") }
            #expect(after.status == 200, "room again once they are gone")
            #expect(try await server.metric(#"strata_http_connections_closed_total{reason="over_limit"}"#) == Double(closed))
        }
    }

    /// What happened to each request a client tried during the shutdown.
    struct Ledger: Sendable {
        var answered = 0
        var refusedAtConnect = 0
        /// Connected, then reset or closed without an answer: must stay 0.
        var lostAfterAccept = 0

        static func + (left: Ledger, right: Ledger) -> Ledger {
            Ledger(
                answered: left.answered + right.answered,
                refusedAtConnect: left.refusedAtConnect + right.refusedAtConnect,
                lostAfterAccept: left.lostAfterAccept + right.lostAfterAccept
            )
        }
    }

    /// A client sending one request per new connection until connections have been refused
    /// three times in a row after `stopped` was raised (or two minutes have passed).
    static func client(port: Int, stopped: TestCounter) async throws -> Ledger {
        try await LoopbackSocket.onThread {
            var ledger = Ledger()
            var refusedInARow = 0
            let deadline = ContinuousClock.now + .seconds(120)
            while refusedInARow < 3 && ContinuousClock.now < deadline {
                do {
                    let answer = try LoopbackSocket.get(port: port, path: "/health")
                    refusedInARow = 0
                    if answer.status != nil { ledger.answered += 1 } else { ledger.lostAfterAccept += 1 }
                    // Steady, not flat out: the other test suites share the machine.
                    Thread.sleep(forTimeInterval: 0.002)
                } catch {
                    ledger.refusedAtConnect += 1
                    refusedInARow += stopped.value > 0 ? 1 : 0
                    Thread.sleep(forTimeInterval: 0.02)
                }
            }
            return ledger
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aShutdownUnderLoadAnswersEveryRequestItAccepted() async throws {
        try await ServedProcess.with(variables: ["SHUTDOWN_DRAIN_DELAY": "300ms"]) { server in
            let port = server.port
            let stopped = TestCounter(0)
            let clients = (0..<8).map { _ in Task { try await Self.client(port: port, stopped: stopped) } }
            // A kept-alive connection in the middle of a request when the shutdown starts.
            let keptAlive = try await LoopbackSocket.onThread { try LoopbackSocket.connect(port: port) }
            let first = try await LoopbackSocket.onThread {
                keptAlive.send("GET /health HTTP/1.1\r\nHost: strata\r\n\r\n")
                let first = ConnectionEnd(keptAlive.read(timeout: .seconds(10)) { $0.hasSuffix("}") })
                keptAlive.send(
                    "POST /api/workorders/orders HTTP/1.1\r\nHost: strata\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{"
                )
                return first
            }
            #expect(first.status == 200 && !first.text.lowercased().contains("connection: close"))

            try await Task.sleep(for: .seconds(1.5))
            let exit = Task { await server.terminate() }
            try await Task.sleep(for: .seconds(1))
            let last = try await LoopbackSocket.onThread {
                keptAlive.send("}")
                return ConnectionEnd(keptAlive.read(timeout: .seconds(10)))
            }
            #expect(last.status != nil, "the request in progress is answered: \(last.text)")
            #expect(last.text.lowercased().contains("connection: close"), "its answer is the connection's last: \(last.text)")
            #expect(last.ending == .closed)

            let status = await exit.value
            stopped.increment()
            var total = Ledger()
            for client in clients { total = total + (try await client.value) }
            print(
                "shutdown_ledger: \(total.answered) answered, \(total.refusedAtConnect) refused at connect, "
                    + "\(total.lostAfterAccept) lost after accept"
            )
            #expect(status == 0, "exit status \(String(describing: status)): \(server.output)")
            #expect(total.answered > 100)
            #expect(total.lostAfterAccept == 0, "every accepted connection is answered")
        }
    }
}

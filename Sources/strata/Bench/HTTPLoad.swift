import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import StrataCore

/// A small HTTP/1.1 load generator: `connections` keep-alive connections, each sending the
/// next request when the previous answer has arrived (like `wrk` without pipelining).
enum HTTPLoad {
    /// One request to send.
    struct Request: Sendable {
        var method: HTTPMethod = .GET
        var path: String
        var headers: [(String, String)] = []
        var body: [UInt8]?
    }

    /// Sends `requests` GETs of `path` and returns throughput and latency.
    /// - Throws: when a connection fails or a response is not 200.
    static func run(host: String, port: Int, path: String, headers: [(String, String)], connections: Int, requests: Int) async throws -> BenchResult {
        try await run(host: host, port: port, connections: connections, requests: requests) { _ in Request(path: path, headers: headers) }
    }

    /// Sends `requests` requests, the `index`th made by `make(index)`, and returns throughput and
    /// latency.
    /// - Throws: when a connection fails or a response is not 2xx.
    static func run(
        host: String,
        port: Int,
        connections: Int,
        requests: Int,
        make: @escaping @Sendable (Int) -> Request
    ) async throws -> BenchResult {
        var channels: [any Channel] = []
        for _ in 0..<connections { channels.append(try await connect(host: host, port: port)) }
        defer { for channel in channels { channel.close(promise: nil) } }
        let opened = channels
        return try await measureConcurrently(requests, workers: connections) { worker, index in
            let request = make(index)
            let answer = try await send(request, on: opened[worker], host: host, port: port)
            guard (200..<300).contains(answer.status) else {
                throw StrataError(.internalError, "\(request.method) \(request.path) answered \(answer.status) in the benchmark")
            }
        }
    }

    /// A response: its status and body.
    struct Answer: Sendable {
        var status: UInt
        var body: ByteBuffer
    }

    /// Sends one request on a connection of its own to a loopback port, and closes it.
    static func once(_ request: Request, port: Int) async throws -> Answer {
        let channel = try await connect(host: "127.0.0.1", port: port)
        defer { channel.close(promise: nil) }
        return try await send(request, on: channel, host: "127.0.0.1", port: port)
    }

    /// Opens one keep-alive connection.
    static func connect(host: String, port: Int) async throws -> any Channel {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ExchangeHandler())
                }
            }
            .connect(host: host, port: port).get()
    }

    /// Sends one request on a connection from ``connect(host:port:)`` and waits for its answer.
    static func send(_ request: Request, on channel: any Channel, host: String, port: Int) async throws -> Answer {
        var head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.path, headers: HTTPHeaders())
        head.headers.add(name: "Host", value: "\(host):\(port)")
        for (name, value) in request.headers { head.headers.add(name: name, value: value) }
        if let body = request.body { head.headers.add(name: "Content-Length", value: "\(body.count)") }
        let promise = channel.eventLoop.makePromise(of: Answer.self)
        channel.writeAndFlush(Exchange(head: head, body: request.body, promise: promise), promise: nil)
        return try await promise.futureResult.get()
    }

    /// Returns once `GET /health` answers on `port` (a server that has just been started).
    /// - Throws: `server_start_failed` after about 5 seconds.
    static func waitUntilListening(port: Int) async throws {
        for _ in 0..<200 {
            if (try? await run(host: "127.0.0.1", port: port, path: "/health", headers: [], connections: 1, requests: 1)) != nil { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw StrataError(.serverStartFailed, "The benchmark server did not start listening.")
    }

    struct Exchange {
        var head: HTTPRequestHead
        var body: [UInt8]?
        var promise: EventLoopPromise<Answer>
    }

    /// Writes requests and completes each one's promise with its response, in order.
    final class ExchangeHandler: ChannelDuplexHandler {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundIn = Exchange
        typealias OutboundOut = HTTPClientRequestPart
        private var waiting = CircularBuffer<EventLoopPromise<Answer>>()
        private var status: UInt = 0
        private var body = ByteBuffer()

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            let exchange = unwrapOutboundIn(data)
            waiting.append(exchange.promise)
            context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
            if let body = exchange.body {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            }
            context.write(wrapOutboundOut(.end(nil)), promise: promise)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                status = head.status.code
                body.clear()
            case .body(var part): body.writeBuffer(&part)
            case .end: waiting.popFirst()?.succeed(Answer(status: status, body: body))
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            while let promise = waiting.popFirst() { promise.fail(error) }
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            while let promise = waiting.popFirst() { promise.fail(StrataError(.internalError, "the benchmark connection closed")) }
        }
    }
}

import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import Synchronization

/// The open-connection count and the closes by reason, on `/metrics`:
/// - `strata_http_connections_open` (gauge)
/// - `strata_http_connections_closed_total{reason}`: closes decided by the server
///   (``ConnectionCloseReason``); a client closing its own connection is not counted.
final class ConnectionMetrics: Sendable {
    private let open = Atomic<Int>(0)
    private let openGauge = Gauge(label: "strata_http_connections_open")
    private let closes: [ConnectionCloseReason: Counter]

    init() {
        var closes: [ConnectionCloseReason: Counter] = [:]
        for reason in ConnectionCloseReason.allCases {
            closes[reason] = Counter(label: "strata_http_connections_closed_total", dimensions: [("reason", reason.rawValue)])
        }
        self.closes = closes
    }

    /// Counts a new connection; false when it is one too many.
    func opened(limit: Int) -> Bool {
        let count = open.add(1, ordering: .relaxed).newValue
        openGauge.record(count)
        return count <= limit
    }

    func ended() {
        openGauge.record(open.subtract(1, ordering: .relaxed).newValue)
    }

    func closed(_ reason: ConnectionCloseReason) {
        closes[reason]?.increment()
    }
}

/// Hummingbird's HTTP/1 channel with Strata's connection policy in front: the open-connection
/// bound (a connection beyond it is closed before anything is read), the header, body and
/// keep-alive timeouts, and the drain behaviour of ``ConnectionGuardHandler``.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let inner: HTTP1Channel
    let policy: HTTPConnectionPolicy
    let metrics: ConnectionMetrics

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let admitted = metrics.opened(limit: policy.maxConnections)
        let metrics = self.metrics
        channel.closeFuture.whenComplete { _ in metrics.ended() }
        guard admitted else {
            metrics.closed(.overLimit)
            return channel.close().flatMapThrowing { throw ConnectionRefused() }
        }
        do {
            try channel.pipeline.syncOperations.addHandler(RequestBytesMarker())
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }

    /// The setup's failure for a connection beyond the bound.
    struct ConnectionRefused: Error {}
}

extension HTTPServerBuilder {
    /// HTTP/1 under `policy` (see ``GuardedHTTP1Channel``).
    static func guardedHTTP1(policy: HTTPConnectionPolicy, metrics: ConnectionMetrics) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            GuardedHTTP1Channel(
                inner: HTTP1Channel(
                    responder: responder,
                    configuration: .init(additionalChannelHandlers: [ConnectionGuardHandler(policy: policy, metrics: metrics)])
                ),
                policy: policy,
                metrics: metrics
            )
        }
    }
}

import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes

/// Tells ``ConnectionGuardHandler`` that bytes arrived, before the HTTP decoder has made a
/// request part of them: the start of a head is visible only at this level.
final class RequestBytesMarker: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    /// The user event fired for each read.
    struct BytesArrived {}

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireUserInboundEventTriggered(BytesArrived())
        context.fireChannelRead(data)
    }
}

/// Applies ``ConnectionTimeouts`` to one connection: schedules its deadline on the event loop,
/// answers `408` and closes when one passes, and takes over the server's drain
/// (`ChannelShouldQuiesceEvent`) so that a connection accepted but not yet read is served
/// rather than closed, and a kept-alive one gets `Connection: close` on its last response.
///
/// It sits after the HTTP/1 codec and before Hummingbird's own connection-state handler.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var state: ConnectionTimeouts<ContinuousClock.Instant>
    private var timer: Scheduled<Void>?
    private var timerDeadline: ContinuousClock.Instant?
    private let metrics: ConnectionMetrics

    init(policy: HTTPConnectionPolicy, metrics: ConnectionMetrics) {
        self.state = ConnectionTimeouts(policy: policy, now: .now)
        self.metrics = metrics
    }

    func handlerAdded(context: ChannelHandlerContext) {
        schedule(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: state.headReceived(now: .now)
        case .body: state.bodyReceived(now: .now)
        case .end: state.endReceived(now: .now)
        }
        schedule(context)
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is RequestBytesMarker.BytesArrived:
            state.bytesReceived(now: .now)
            schedule(context)
        case is ChannelShouldQuiesceEvent:
            // Not passed on: Hummingbird's handler would close a connection whose request has
            // not been parsed yet.
            switch state.drain(now: .now) {
            case .close:
                close(context, reason: .shutdown)
            case .finishRequest:
                schedule(context)
            }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var response):
            switch state.responseHeadWritten() {
            case .write:
                context.write(data, promise: promise)
            case .writeClosing:
                response.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(response)), promise: promise)
            }
        case .body:
            context.write(data, promise: promise)
        case .end:
            switch state.responseEnded(now: .now) {
            case .write:
                context.write(data, promise: promise)
                schedule(context)
            case .writeAndClose:
                context.writeAndFlush(data, promise: promise)
                close(context, reason: .shutdown)
            }
        }
    }

    /// Makes sure a timer fires at (or before) the state's deadline. A later deadline reuses
    /// the pending timer, which re-arms itself when it fires early.
    private func schedule(_ context: ChannelHandlerContext) {
        guard let deadline = state.deadline else { return }
        if let timerDeadline, timerDeadline <= deadline { return }
        timer?.cancel()
        timerDeadline = deadline
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: TimeAmount(deadline - .now)) {
            loopBound.value.handler.timerFired(loopBound.value.context)
        }
    }

    private func timerFired(_ context: ChannelHandlerContext) {
        timer = nil
        timerDeadline = nil
        switch state.timerFired(now: .now) {
        case .wait:
            schedule(context)
        case .close(let reason):
            close(context, reason: reason)
        case .answerTimeoutAndClose(let reason):
            let head = HTTPResponse(status: .requestTimeout, headerFields: [.connection: "close", .contentLength: "0"])
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            close(context, reason: reason)
        }
    }

    private func close(_ context: ChannelHandlerContext, reason: ConnectionCloseReason) {
        timer?.cancel()
        timer = nil
        metrics.closed(reason)
        context.close(promise: nil)
    }
}

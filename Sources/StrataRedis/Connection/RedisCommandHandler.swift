import NIOCore
import StrataCore

/// One command waiting for its reply. Confined to the channel's event loop.
final class ReplySlot: @unchecked Sendable {
    let promise: EventLoopPromise<RESPValue>
    private var completed = false

    init(promise: EventLoopPromise<RESPValue>) {
        self.promise = promise
    }

    /// Completes the slot once; later completions (a reply after a timeout) are dropped.
    func complete(_ result: Result<RESPValue, any Error>) {
        promise.futureResult.eventLoop.preconditionInEventLoop()
        guard !completed else { return }
        completed = true
        promise.completeWith(result)
    }
}

/// A command on its way to Redis: its bytes and the slot its reply goes to.
struct RedisRequest: Sendable {
    var bytes: ByteBuffer
    var slot: ReplySlot
}

/// Writes commands and matches replies to them in order (RESP replies come back in the order
/// commands were sent, which is what makes pipelining work). RESP3 pushes are passed to
/// `onPush` instead. A protocol violation fails every waiting command and closes the channel.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private var decoder = RESPDecoder()
    private var pending = CircularBuffer<ReplySlot>()
    private let onPush: (@Sendable (RESPValue) -> Void)?

    init(onPush: (@Sendable (RESPValue) -> Void)? = nil) {
        self.onPush = onPush
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        pending.append(request.slot)
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        decoder.append(buffer.readableBytesView)
        do {
            while let value = try decoder.next() {
                if case .push = value {
                    onPush?(value)
                    continue
                }
                guard let slot = pending.popFirst() else {
                    throw StrataError(.redisProtocolViolation, "Redis sent a reply no command was waiting for.")
                }
                slot.complete(.success(value))
            }
        } catch {
            failAll(StrataError(.redisProtocolViolation, "Redis sent bytes that are not valid RESP.", underlying: error))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(StrataError(.redisUnavailable, "The connection to Redis closed."))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(StrataError(.redisUnavailable, "The connection to Redis failed.", underlying: error))
        context.close(promise: nil)
    }

    private func failAll(_ error: StrataError) {
        while let slot = pending.popFirst() {
            slot.complete(.failure(error))
        }
    }
}

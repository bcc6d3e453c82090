import NIOCore
import StrataCore

/// One command waiting for its reply. Confined to the channel's event loop.
final class ReplySlot: @unchecked Sendable {
    let promise: EventLoopPromise<RESPValue>
    /// When the command times out (checked by the handler's sweep).
    let deadline: NIODeadline
    let timeout: Duration
    private(set) var completed = false

    init(promise: EventLoopPromise<RESPValue>, timeout: Duration) {
        self.promise = promise
        self.timeout = timeout
        self.deadline = .now() + .nanoseconds(timeout.nanoseconds)
    }

    /// Completes the slot once; later completions (a reply after a timeout) are dropped.
    func complete(_ result: Result<RESPValue, any Error>) {
        promise.futureResult.eventLoop.preconditionInEventLoop()
        guard !completed else { return }
        completed = true
        promise.completeWith(result)
    }
}

/// A command on its way to Redis: its bytes and the slot its reply goes to (none for
/// `SUBSCRIBE`, which Redis answers with pushes only).
struct RedisRequest: Sendable {
    var bytes: ByteBuffer
    var slot: ReplySlot?
}

/// Writes commands and matches replies to them in order (RESP replies come back in the order
/// commands were sent, which is what makes pipelining work). RESP3 pushes are passed to
/// `onPush` instead — and, on a subscriber connection (`pubSub`), so are RESP2 pub/sub
/// arrays (`message`, `subscribe` …). A protocol violation fails every waiting command and
/// closes the channel; `onClose` runs when the channel goes away.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private var decoder = RESPDecoder()
    private var pending = CircularBuffer<ReplySlot>()
    private var flushScheduled = false
    private var sweep: RepeatedTask?
    /// How often waiting commands are checked against their deadlines.
    static let sweepInterval = TimeAmount.milliseconds(5)
    private let onPush: (@Sendable (RESPValue) -> Void)?
    private let onClose: (@Sendable () -> Void)?
    private let pubSub: Bool

    init(onPush: (@Sendable (RESPValue) -> Void)? = nil, onClose: (@Sendable () -> Void)? = nil, pubSub: Bool = false) {
        self.onPush = onPush
        self.onClose = onClose
        self.pubSub = pubSub
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // One timer per connection, not one per command: every few milliseconds, commands past
        // their deadline fail with `redis_timeout` (their replies, when they come, are dropped).
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        sweep = context.eventLoop.scheduleRepeatedTask(initialDelay: Self.sweepInterval, delay: Self.sweepInterval) { _ in
            loopBound.value.expireOverdue()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        sweep?.cancel()
        sweep = nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let slot = request.slot { pending.append(slot) }
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    /// Coalesces flushes: commands written by many callers in the same event-loop tick go out
    /// in one `write` system call instead of one each.
    func flush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = loopBound.value
            handler.flushScheduled = false
            context.flush()
        }
    }

    private func expireOverdue() {
        guard !pending.isEmpty else { return }
        let now = NIODeadline.now()
        for slot in pending where !slot.completed && slot.deadline <= now {
            slot.complete(.failure(StrataError(.redisTimeout, "Redis did not answer within \(slot.timeout).")))
        }
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
                if pubSub, case .array(let items) = value, let kind = items.first?.string, Self.pubSubKinds.contains(kind) {
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

    static let pubSubKinds: Set<String> = ["message", "pmessage", "smessage", "subscribe", "psubscribe", "unsubscribe", "punsubscribe"]

    func channelInactive(context: ChannelHandlerContext) {
        sweep?.cancel()
        sweep = nil
        failAll(StrataError(.redisUnavailable, "The connection to Redis closed."))
        onClose?()
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

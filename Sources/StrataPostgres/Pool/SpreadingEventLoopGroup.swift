import Dispatch
import NIOCore

/// The event loops a pool's connections are spread over.
///
/// `PostgresClient` opens each connection on its group's `any()`. When Swift concurrency runs
/// on NIO's event loops, as it does in the server, the pool's opening task runs on one of them,
/// and `any()` of the shared group answers with that very loop: every connection would end up
/// on one thread, and so would the work each reply wakes. This group answers `any()` with
/// `next()`, so connections take the loops in turn.
final class SpreadingEventLoopGroup: EventLoopGroup, Sendable {
    let base: any EventLoopGroup

    init(_ base: any EventLoopGroup) {
        self.base = base
    }

    func next() -> any EventLoop { base.next() }

    func any() -> any EventLoop { base.next() }

    func makeIterator() -> EventLoopIterator { base.makeIterator() }

    func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
        base.shutdownGracefully(queue: queue, callback)
    }
}

import NIOCore

/// Runs a task's jobs on the event loop of the database connection it holds.
///
/// A query's reply arrives on the connection's event loop; a task running elsewhere is woken
/// there and hops threads twice per statement. While a lease is held (``PostgresPool/withConnection(_:)``),
/// the task prefers this executor, so its statements and their replies stay on one thread.
final class ConnectionExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

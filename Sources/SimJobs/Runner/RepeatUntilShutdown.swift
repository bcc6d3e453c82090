import ServiceLifecycle
import StrataCore

/// Runs `pass` at once and then every `interval` until graceful shutdown begins (which also cuts
/// a wait short) or the task is cancelled: the loop of the worker's periodic services. `pass`
/// gets the latch set at shutdown, to stop between steps of a long pass.
func repeatUntilShutdown(every interval: Duration, _ pass: (_ stopping: Latch) async -> Void) async {
    let stopping = Latch()
    let doorbell = Doorbell()
    await withGracefulShutdownHandler {
        while !Task.isCancelled && !stopping.isSet {
            await pass(stopping)
            await doorbell.wait(timeout: interval)
        }
    } onGracefulShutdown: {
        stopping.set()
        doorbell.ring()
    }
}

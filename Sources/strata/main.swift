import ArgumentParser
import NIOCore
import NIOPosix

// Swift Concurrency runs on NIO's event loops, so a database or HTTP call does not hop between
// the cooperative thread pool and an event loop thread twice per round trip. It must happen on
// the main thread before any task runs.
_ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()

/// Runs the command line. Inside an async function the async `main` overload is chosen; the
/// synchronous one cannot run async subcommands.
func runStrata() async {
    await Strata.main(nil)
}

await runStrata()

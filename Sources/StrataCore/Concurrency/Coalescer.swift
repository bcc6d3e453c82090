import Synchronization

/// Coalesces concurrent requests into batches, the way a database groups commits: the first
/// caller runs a batch of what is waiting; callers who arrive while it runs wait and go
/// together in the next one. Alone, a request runs at once (no timer, no added latency); under
/// load, one round trip serves many.
///
/// ```swift
/// let completions = Coalescer<ClaimedJob, Bool> { jobs in
///     let done = try await queue.complete(jobs, on: connection, logger: logger)
///     return jobs.map { done.contains($0.id) }
/// }
/// let completed = try await completions.submit(job)
/// ```
public final class Coalescer<Request: Sendable, Answer: Sendable>: Sendable {
    /// Runs one batch; returns one answer per request, in order. A throw fails every request
    /// of the batch.
    public typealias Batch = @Sendable ([Request]) async throws -> [Answer]

    private struct Waiting {
        var request: Request
        var continuation: CheckedContinuation<Answer, any Error>
    }

    private struct State {
        var waiting: [Waiting] = []
        var running = false
    }

    private let state = Mutex(State())
    private let maximumBatch: Int
    private let batch: Batch

    /// - Parameter maximumBatch: The most requests one batch takes.
    public init(maximumBatch: Int = 500, batch: @escaping Batch) {
        self.maximumBatch = max(1, maximumBatch)
        self.batch = batch
    }

    /// Submits a request and waits for its batch's answer.
    public func submit(_ request: Request) async throws -> Answer {
        try await withCheckedThrowingContinuation { continuation in
            let leads = state.withLock { state -> Bool in
                state.waiting.append(Waiting(request: request, continuation: continuation))
                guard !state.running else { return false }
                state.running = true
                return true
            }
            guard leads else { return }
            // The first to wait starts a task that runs batches until nobody waits.
            Task { await self.drain() }
        }
    }

    private func drain() async {
        while true {
            let taken = state.withLock { state -> [Waiting] in
                let count = min(state.waiting.count, maximumBatch)
                let taken = Array(state.waiting.prefix(count))
                state.waiting.removeFirst(count)
                if taken.isEmpty { state.running = false }
                return taken
            }
            guard !taken.isEmpty else { return }
            do {
                let answers = try await batch(taken.map(\.request))
                guard answers.count == taken.count else {
                    throw StrataError(.internalError, "A batch answered \(answers.count) of \(taken.count) requests.")
                }
                for (waiting, answer) in zip(taken, answers) { waiting.continuation.resume(returning: answer) }
            } catch {
                for waiting in taken { waiting.continuation.resume(throwing: error) }
            }
        }
    }
}

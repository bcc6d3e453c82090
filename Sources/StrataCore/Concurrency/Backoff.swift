import Foundation

/// Exponential backoff with jitter: the one way Strata spaces out retries (job retries, the
/// outbox relay after a failed round, transactions after a serialization failure, object
/// storage requests after a 5xx).
///
/// The n-th wait is `initial × 2^(n-1)`, capped at `maximum`, then multiplied by a random
/// factor from `jitter` so that many clients do not retry in step.
///
/// ```swift
/// let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(2))
/// let object = try await backoff.retrying(attempts: 4, when: { ($0 as? StrataError)?.isRetryable == true }) {
///     try await store.get(key)
/// }
/// ```
public struct Backoff: Sendable, Equatable {
    /// The first wait.
    public var initial: Duration
    /// The longest wait (before jitter).
    public var maximum: Duration
    /// The random factor applied to each wait.
    public var jitter: ClosedRange<Double>

    public init(initial: Duration, maximum: Duration, jitter: ClosedRange<Double> = 0.75...1.25) {
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
    }

    /// The wait after `failures` failures (1 for the first).
    public func delay(afterFailures failures: Int) -> Duration {
        let base = initial.secondsDouble * pow(2, Double(min(max(failures - 1, 0), 30)))
        let capped = min(base, maximum.secondsDouble)
        return .microseconds(Int64(capped * 1_000_000 * Double.random(in: jitter)))
    }

    /// Runs `body` up to `attempts` times, waiting between attempts while `shouldRetry` says
    /// the error is worth another try; the last error is thrown. Cancellation stops the waits.
    public func retrying<Result>(
        attempts: Int,
        when shouldRetry: (any Error) -> Bool,
        _ body: () async throws -> Result
    ) async throws -> Result {
        var failures = 0
        while true {
            do {
                return try await body()
            } catch {
                failures += 1
                guard failures < attempts, shouldRetry(error) else { throw error }
                try await Task.sleep(for: delay(afterFailures: failures))
            }
        }
    }
}

public import Logging
import Synchronization

/// Counts the round trips PostgreSQL answers on the connections of a pool whose logger is
/// ``logger``: every statement, `BEGIN` and `COMMIT` ends with the server's `ReadyForQuery`,
/// which postgres-nio logs at trace level as it arrives.
///
/// ```swift
/// let counter = RoundTripCounter()
/// let pool = PostgresPool(url: database.url, configuration: .init(maximumConnections: 1), logger: counter.logger)
/// let trips = try await counter.counting { try await service.submit(…) }
/// ```
public final class RoundTripCounter: Sendable {
    private let count = Atomic<Int>(0)

    public init() {}

    /// A trace-level logger that counts; give it to the pool whose round trips to count.
    public var logger: Logger {
        Logger(label: "strata.test.round_trips") { _ in Handler(counter: self) }
    }

    /// The round trips `body` takes, and its result.
    public func counting<Result>(_ body: () async throws -> Result) async throws -> (trips: Int, result: Result) {
        let before = count.load(ordering: .sequentiallyConsistent)
        let result = try await body()
        return (count.load(ordering: .sequentiallyConsistent) - before, result)
    }

    private struct Handler: LogHandler {
        let counter: RoundTripCounter
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            guard event.message.description == "Backend message received",
                let message = event.metadata?["psql_message"]?.description,
                message.hasPrefix(".readyForQuery")
            else { return }
            counter.count.add(1, ordering: .sequentiallyConsistent)
        }
    }
}

public import Logging
import Synchronization

/// Counts the round trips PostgreSQL answers on the connections of a pool whose logger is
/// ``logger``: every statement, `BEGIN` and `COMMIT` ends with the server's `ReadyForQuery`,
/// which postgres-nio logs at trace level as it arrives.
///
/// ```swift
/// let counter = RoundTripCounter()
/// let pool = PostgresPool(url: database.url, configuration: .init(poolSize: 1, maxOverflow: 0), logger: counter.logger)
/// let trips = try await counter.counting { try await service.submit(…) }
/// ```
public final class RoundTripCounter: Sendable {
    private let count = Atomic<Int>(0)

    public init() {}

    /// A trace-level logger that counts; give it to the pool whose round trips to count.
    public var logger: Logger {
        Logger(label: "strata.test.round_trips") { _ in
            EventLogHandler { [self] event, metadata in
                guard event.message.description == "Backend message received",
                    metadata["psql_message"]?.description.hasPrefix(".readyForQuery") == true
                else { return }
                self.count.add(1, ordering: .sequentiallyConsistent)
            }
        }
    }

    /// The round trips `body` takes, and its result.
    public func counting<Result>(_ body: () async throws -> Result) async throws -> (trips: Int, result: Result) {
        let before = count.load(ordering: .sequentiallyConsistent)
        let result = try await body()
        return (count.load(ordering: .sequentiallyConsistent) - before, result)
    }
}

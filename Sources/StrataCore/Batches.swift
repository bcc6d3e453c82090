/// Work done a batch at a time until a batch comes back short: sweeps that delete or update at
/// most `size` rows per transaction, a relay that publishes at most `size` events per round.
public enum Batches {
    /// Runs `batch` (which handles at most `size` items and says how many) until it handles
    /// fewer than `size`.
    /// - Returns: How many items all the batches handled.
    @discardableResult
    public static func drain(size: Int, _ batch: () async throws -> Int) async throws -> Int {
        var total = 0
        while true {
            let handled = try await batch()
            total += handled
            if handled < size { return total }
        }
    }
}

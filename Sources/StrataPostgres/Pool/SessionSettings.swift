import PostgresNIO

/// Settings kept on a pooled connection's session between leases (``PostgresPool/withSession(_:_:)``):
/// how to apply them, how to undo them, and a key that tells them apart.
struct SessionSettings: Sendable, Equatable {
    /// Equal keys are equal settings: a connection holding them is used without applying them
    /// again.
    let key: String
    /// The statement that sets them on the session (`set_config(…, false)`).
    let apply: PostgresQuery
    /// The statement that returns the session to what it was before ``apply``.
    let reset: PostgresQuery

    static func == (lhs: Self, rhs: Self) -> Bool { lhs.key == rhs.key }
}

/// The cause of an error that a dependency's outage explains, and that its client has already
/// reported (logged once when the outage began): an error carrying it as its `underlying`
/// cause is answered as usual (503) but not logged again for every request that meets it.
///
/// ```swift
/// throw StrataError(.databaseUnavailable, "The database cannot be reached; retry shortly.",
///                   underlying: ReportedOutage(dependency: "postgresql", cause: connectError))
/// ```
public struct ReportedOutage: Error, CustomStringConvertible {
    /// What is unavailable (`postgresql`, `redis`, …).
    public var dependency: String
    /// The failure that began or continues the outage.
    public var cause: any Error

    public init(dependency: String, cause: any Error) {
        self.dependency = dependency
        self.cause = cause
    }

    public var description: String { "\(dependency) outage: \(String(reflecting: cause))" }
}

extension StrataError {
    /// Whether this error comes from an outage its client has already reported once.
    public var isReportedOutage: Bool { underlying is ReportedOutage }
}

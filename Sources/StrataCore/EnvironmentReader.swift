/// Reads typed configuration values from environment-style variables.
///
/// Every component's configuration has an `init(environment:)` that reads its keys through
/// this type, so that all values are validated the same way and every error names the
/// variable and what it allows:
///
/// ```swift
/// let reader = EnvironmentReader(ProcessInfo.processInfo.environment)
/// let size = try reader.int("DB_POOL_SIZE", default: 10, in: 1...1000)
/// // DB_POOL_SIZE=abc → "DB_POOL_SIZE: 'abc' is not an integer (allowed: 1...1000)"
/// ```
///
/// Values read with ``secret(_:)`` never appear in error messages.
public struct EnvironmentReader: Sendable {
    /// The raw variables; empty strings count as unset.
    public let variables: [String: String]

    /// Creates a reader over a set of variables (typically the process environment with CLI
    /// flags laid over it).
    public init(_ variables: [String: String]) {
        self.variables = variables.filter { !$0.value.isEmpty }
    }

    /// The raw value of a variable, or `nil` when unset or empty.
    public func string(_ key: String) -> String? { variables[key] }

    /// A string value or its default.
    public func string(_ key: String, default defaultValue: String) -> String { variables[key] ?? defaultValue }

    /// An integer in a range.
    /// - Throws: `invalid_configuration` naming `key` when the value is not an integer in `range`.
    public func int(_ key: String, default defaultValue: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let raw = variables[key] else { return defaultValue }
        guard let value = Int(raw.trimmingSpaces()), range.contains(value) else {
            throw invalid(key, raw, allowed: "an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A boolean: `true/false`, `1/0`, `yes/no`, `on/off` (any case).
    /// - Throws: `invalid_configuration` naming `key` for any other value.
    public func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
        guard let raw = variables[key] else { return defaultValue }
        switch raw.trimmingSpaces().lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw invalid(key, raw, allowed: "true or false")
        }
    }

    /// A duration: a number of seconds (`30`, `0.5`) or a number with a unit (`250ms`, `30s`, `5m`, `1h`).
    /// - Throws: `invalid_configuration` naming `key` when unparsable or outside `range`.
    public func duration(
        _ key: String,
        default defaultValue: Duration,
        in range: ClosedRange<Duration> = .zero ... .seconds(86_400 * 365)
    ) throws -> Duration {
        guard let raw = variables[key] else { return defaultValue }
        guard let value = Self.parseDuration(raw), range.contains(value) else {
            throw invalid(key, raw, allowed: "a duration such as 30, 30s, 250ms or 5m, within \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// One of a fixed set of lowercase words.
    /// - Throws: `invalid_configuration` naming `key` and the allowed words.
    public func choice<T: RawRepresentable & CaseIterable>(_ key: String, default defaultValue: T) throws -> T
    where T.RawValue == String {
        guard let raw = variables[key] else { return defaultValue }
        guard let value = T(rawValue: raw.trimmingSpaces().lowercased()) else {
            throw invalid(key, raw, allowed: T.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return value
    }

    /// Parses `30`, `0.5`, `250ms`, `30s`, `5m`, `1h` into a duration.
    public static func parseDuration(_ raw: String) -> Duration? {
        let text = raw.trimmingSpaces().lowercased()
        let units: [(suffix: String, seconds: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        for unit in units where text.hasSuffix(unit.suffix) {
            guard let number = Double(text.dropLast(unit.suffix.count)), number >= 0, number.isFinite else { return nil }
            return .milliseconds(Int64((number * unit.seconds * 1000).rounded()))
        }
        guard let number = Double(text), number >= 0, number.isFinite else { return nil }
        return .milliseconds(Int64((number * 1000).rounded()))
    }

    /// The error for a bad value. Values of keys that look secret are not echoed.
    public func invalid(_ key: String, _ raw: String, allowed: String) -> StrataError {
        let shown = Self.looksSecret(key) ? "(value hidden)" : "'\(raw)'"
        return StrataError(
            .invalidConfiguration,
            "\(key): \(shown) is not valid (allowed: \(allowed))",
            details: ["variable": key]
        )
    }

    static func looksSecret(_ key: String) -> Bool {
        let upper = key.uppercased()
        return ["URL", "PASSWORD", "SECRET", "TOKEN", "KEY"].contains { upper.contains($0) }
    }
}

extension String {
    func trimmingSpaces() -> Substring {
        var slice = self[...]
        while slice.first?.isWhitespace == true { slice.removeFirst() }
        while slice.last?.isWhitespace == true { slice.removeLast() }
        return slice
    }
}

extension Substring {
    func lowercased() -> String { String(self).lowercased() }
    func hasSuffix(_ suffix: String) -> Bool { String(self).hasSuffix(suffix) }
}

/// The one error type of Strata.
///
/// A `StrataError` carries a stable ``Code`` that clients and operators can match on, a
/// client-safe ``message``, optional client-safe ``details`` (for example the name of the
/// violated constraint) and, for debugging only, the ``underlying`` error and the source
/// location that raised it.
///
/// ```swift
/// do {
///     try await repository.insert(ticket, on: connection)
/// } catch StrataError.Code.conflict {
///     // a unique constraint was violated
/// }
/// ```
///
/// Equality compares codes only. ``description`` never contains bound values, passwords or
/// other secrets; ``debugDescription`` adds the underlying error and the source location.
public struct StrataError: Error, Sendable {
    /// The stable, machine-readable code of the error.
    public var code: Code
    /// A message that is safe to show to a client and tells what to do next.
    public var message: String
    /// Client-safe structured details (constraint, file, variable name …).
    public var details: [String: String]
    /// Which input fields are wrong and why (validation errors; HTTP `errors[]`).
    public var fieldErrors: [FieldError]
    /// The error that caused this one, kept for logs at debug level. Never shown to clients.
    public var underlying: (any Error)?
    /// The file that raised the error.
    public var file: String
    /// The line that raised the error.
    public var line: Int

    /// Creates an error.
    /// - Parameters:
    ///   - code: The stable code.
    ///   - message: A client-safe message.
    ///   - details: Client-safe details.
    ///   - underlying: The error that caused this one.
    public init(
        _ code: Code,
        _ message: String,
        details: [String: String] = [:],
        fieldErrors: [FieldError] = [],
        underlying: (any Error)? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.details = details
        self.fieldErrors = fieldErrors
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    /// One wrong input field: its name (a JSON path such as `steps[2].quantity`) and why.
    public struct FieldError: Sendable, Equatable, Codable {
        public var field: String
        public var reason: String

        public init(field: String, reason: String) {
            self.field = field
            self.reason = reason
        }
    }

    /// A validation failure listing every wrong field at once.
    /// - Parameter errors: The fields and reasons (at least one).
    public static func validation(_ errors: [FieldError], file: String = #fileID, line: Int = #line) -> StrataError {
        let names = errors.map(\.field).joined(separator: ", ")
        return StrataError(.validationFailed, "Some fields are not valid: \(names).", fieldErrors: errors, file: file, line: line)
    }

    /// A write refused because the version it was based on (an `If-Match` ETag, a version the
    /// caller read) is no longer current: `precondition_failed` (412).
    public static func staleVersion(file: String = #fileID, line: Int = #line) -> StrataError {
        StrataError(
            .preconditionFailed,
            "The resource changed since it was read (its ETag no longer matches); read it again and retry.",
            file: file,
            line: line
        )
    }

    /// Whether repeating the same operation later may succeed (busy pool, serialization failure …).
    public var isRetryable: Bool { code.isRetryable }
}

extension StrataError: Equatable {
    /// Two errors are equal when their codes are equal.
    public static func == (lhs: StrataError, rhs: StrataError) -> Bool { lhs.code == rhs.code }
}

extension StrataError: CustomStringConvertible, CustomDebugStringConvertible {
    /// `code: message`, safe to log and to show.
    public var description: String { "\(code.rawValue): \(message)" }

    /// Everything, including the underlying error and where the error was raised.
    ///
    /// An underlying error is shown by its own description when its type writes one (as
    /// postgres-nio's `PSQLError` does, with bound values redacted); any other error only by its
    /// type name, since reflecting it would print every stored property — passwords included.
    public var debugDescription: String {
        var text = "StrataError(\(code.rawValue)): \(message)"
        if !details.isEmpty {
            text += " " + details.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        if let underlying { text += " underlying: \(Self.safeDescription(of: underlying))" }
        return text + " [\(file):\(line)]"
    }
}

extension StrataError {
    static func safeDescription(of error: any Error) -> String {
        if let error = (error as Any) as? any CustomDebugStringConvertible { return error.debugDescription }
        if let error = (error as Any) as? any CustomStringConvertible { return error.description }
        return "\(type(of: error)) (contents not shown)"
    }
}

extension StrataError.Code {
    /// Matches a thrown error against a code: `catch StrataError.Code.notFound`.
    public static func ~= (pattern: StrataError.Code, value: any Error) -> Bool {
        (value as? StrataError)?.code == pattern
    }
}

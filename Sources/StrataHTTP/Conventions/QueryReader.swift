public import Hummingbird
public import StrataCore

/// Reads a route's query parameters and collects every wrong one, so that a request with
/// several bad parameters hears about all of them in one `validation_failed` (problem+json
/// `errors[]`), not one at a time.
///
/// ```swift
/// var query = QueryReader(request)
/// let status = query.choice("status", of: TaskStatus.self)
/// let page = query.page()
/// try query.validate()
/// ```
/// Absent parameters read as `nil` and are not errors (``require(_:_:)`` makes one mandatory);
/// an empty value is a value, checked like any other (`?status=` is not a status), except an
/// empty `cursor`, which is the first page.
public struct QueryReader {
    private let parameters: [String: String]
    /// The wrong parameters so far.
    public private(set) var errors: [StrataError.FieldError] = []

    public init(_ request: Request) {
        var parameters: [String: String] = [:]
        for (name, value) in request.uri.queryParameters where parameters[String(name)] == nil {
            parameters[String(name)] = String(value)
        }
        self.parameters = parameters
    }

    /// Records a wrong parameter.
    public mutating func reject(_ name: String, _ reason: String) {
        errors.append(.init(field: name, reason: reason))
    }

    /// The raw text, or `nil` when absent.
    public func raw(_ name: String) -> String? { parameters[name] }

    /// The text, or `nil` (and an error) when absent.
    public mutating func require(_ name: String, _ reason: String) -> String? {
        guard let value = parameters[name] else {
            reject(name, reason)
            return nil
        }
        return value
    }

    /// Text of `length` characters.
    public mutating func text(_ name: String, length: ClosedRange<Int>) -> String? {
        guard let value = parameters[name] else { return nil }
        guard length.contains(value.textLength) else {
            reject(name, "must be \(length.lowerBound) to \(length.upperBound) characters")
            return nil
        }
        return value
    }

    /// `true`/`false` (or `1`/`0`).
    public mutating func bool(_ name: String) -> Bool? {
        guard let value = parameters[name] else { return nil }
        switch value.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default:
            reject(name, "must be true or false")
            return nil
        }
    }

    /// A whole number in `range`.
    public mutating func integer(_ name: String, in range: ClosedRange<Int64>) -> Int64? {
        guard let value = parameters[name] else { return nil }
        guard let number = Int64(value), range.contains(number) else {
            reject(name, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return number
    }

    /// One of an enumeration's raw values.
    public mutating func choice<Value: RawRepresentable & CaseIterable>(_ name: String, of type: Value.Type) -> Value?
    where Value.RawValue == String {
        guard let value = parameters[name] else { return nil }
        guard let chosen = Value(rawValue: value) else {
            reject(name, "must be one of \(Value.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return chosen
    }

    /// One of `allowed`.
    public mutating func choice(_ name: String, among allowed: [String]) -> String? {
        guard let value = parameters[name] else { return nil }
        guard allowed.contains(value) else {
            reject(name, "must be one of \(allowed.joined(separator: ", "))")
            return nil
        }
        return value
    }

    /// `limit` (default 50, 1–200) and `cursor` of a list route.
    public mutating func page() -> PageRequest {
        let limit = integer("limit", in: 1...Int64(PageRequest.maximumLimit)).map(Int.init) ?? PageRequest.defaultLimit
        var cursor: Cursor?
        if let text = parameters["cursor"], !text.isEmpty {
            do {
                cursor = try Cursor(decoding: text)
            } catch let error as StrataError {
                errors += error.fieldErrors
            } catch {
                reject("cursor", "is not a cursor this API returned")
            }
        }
        return PageRequest(limit: limit, cursor: cursor)
    }

    /// Where a list read by position starts and how much of it to read: after the position in
    /// `cursor` (a page's `next_cursor`, see ``Page/byPosition(_:limit:position:)``) or in
    /// `after` (a position the client holds, such as an event's id), from the start without
    /// either; `limit` from 1 to `maximumLimit`.
    public mutating func positionPage(defaultLimit: Int, maximumLimit: Int) -> (after: Int64, limit: Int) {
        let limit = integer("limit", in: 1...Int64(maximumLimit)).map(Int.init) ?? defaultLimit
        var after = integer("after", in: 0...Int64.max) ?? 0
        if let text = parameters["cursor"], !text.isEmpty {
            if let cursor = try? Cursor(decoding: text), cursor.values.count == 1, let position = Int64(cursor.values[0]), position >= 0 {
                after = position
            } else {
                reject("cursor", "is not a cursor this API returned")
            }
        }
        return (after, limit)
    }

    /// Throws `validation_failed` listing every wrong parameter, if any.
    public func validate() throws {
        guard errors.isEmpty else { throw StrataError.validation(errors) }
    }
}

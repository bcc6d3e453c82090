public import Foundation
import StrataCore

/// InfluxDB line protocol, as its clients write it:
/// `measurement[,tag=value…] field=value[,field=value…] [timestamp]`, one point per line, with
/// backslash escapes (commas, spaces and `=` in names and tags; `"` and `\` in string fields),
/// float, integer (`i`), unsigned (`u`), boolean and string fields, and `#` comment lines.
///
/// ``parse(_:precision:now:)`` reads a whole batch or refuses it at the first bad line, naming
/// the line as InfluxDB does (`unable to parse '…' (line 3): missing fields`).
public enum LineProtocol {
    /// A field's value.
    public enum FieldValue: Sendable, Equatable {
        case float(Double)
        case integer(Int64)
        case unsigned(UInt64)
        case boolean(Bool)
        case string(String)

        /// The value as a number, for numeric columns (`nil` for strings and booleans).
        public var number: Double? {
            switch self {
            case .float(let value): value
            case .integer(let value): Double(value)
            case .unsigned(let value): Double(value)
            case .boolean, .string: nil
            }
        }
    }

    /// One point of a batch.
    public struct Point: Sendable, Equatable {
        public var measurement: String
        public var tags: [(key: String, value: String)]
        public var fields: [(key: String, value: FieldValue)]
        /// Nanoseconds since 1970.
        public var timestamp: Int64
        /// The point's line in the batch (from 1).
        public var line: Int

        public static func == (lhs: Point, rhs: Point) -> Bool {
            lhs.measurement == rhs.measurement && lhs.timestamp == rhs.timestamp && lhs.line == rhs.line
                && lhs.tags.elementsEqual(rhs.tags, by: { $0 == $1 }) && lhs.fields.elementsEqual(rhs.fields, by: { $0 == $1 })
        }

        /// The value of tag `key`, if present.
        public func tag(_ key: String) -> String? { tags.first { $0.key == key }?.value }
    }

    /// The unit of timestamps: `ns`, `us`, `ms`, `s` (InfluxDB 2), and v1's `n`, `u`, `m`, `h`.
    public enum Precision: String, Sendable, CaseIterable {
        case nanoseconds = "ns"
        case microseconds = "us"
        case milliseconds = "ms"
        case seconds = "s"

        /// The precision named by a v2 (`ns`, `us`, `ms`, `s`) or v1 (`n`, `u`, `ms`, `s`) parameter.
        public init?(parameter: String) {
            switch parameter {
            case "ns", "n": self = .nanoseconds
            case "us", "u": self = .microseconds
            case "ms": self = .milliseconds
            case "s": self = .seconds
            default: return nil
            }
        }

        var nanosecondsPerUnit: Int64 {
            switch self {
            case .nanoseconds: 1
            case .microseconds: 1_000
            case .milliseconds: 1_000_000
            case .seconds: 1_000_000_000
            }
        }
    }

    /// A line that could not be read.
    public struct ParseError: Error, Sendable, Equatable {
        /// Its line number (from 1).
        public var line: Int
        /// Why, in InfluxDB's words where it has them.
        public var reason: String
        /// The start of the line (at most 64 characters).
        public var excerpt: String

        /// InfluxDB's message shape.
        public var message: String { "unable to parse '\(excerpt)' (line \(line)): \(reason)" }
    }

    /// The points of `body`, or the first bad line.
    /// - Parameter now: The time of points without a timestamp.
    public static func parse(_ body: some Collection<UInt8>, precision: Precision, now: Date = Date()) -> Result<[Point], ParseError> {
        let bytes = Array(body)
        let defaultTime = Int64((now.timeIntervalSince1970 * 1_000_000_000).rounded())
        var points: [Point] = []
        points.reserveCapacity(bytes.count / 64)
        var lineNumber = 0
        var start = 0
        // A batch repeats its measurement on every line: the previous line's text is reused when
        // the bytes are the same (names of up to 15 bytes are stored inline and cost nothing).
        var measurements = NameCache()
        while start <= bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            lineNumber += 1
            var lineEnd = end
            if lineEnd > start, bytes[lineEnd - 1] == 0x0D { lineEnd -= 1 }  // CRLF
            var first = start
            while first < lineEnd, bytes[first] == 0x20 || bytes[first] == 0x09 { first += 1 }
            if first < lineEnd, bytes[first] != 0x23 {  // not blank, not a comment
                var reader = LineReader(bytes: bytes, position: first, end: lineEnd)
                switch reader.point(precision: precision, defaultTime: defaultTime, line: lineNumber, measurements: &measurements) {
                case .success(let point): points.append(point)
                case .failure(let reason):
                    let excerpt = String(decoding: bytes[first..<min(lineEnd, first + 64)], as: UTF8.self)
                    return .failure(ParseError(line: lineNumber, reason: reason.text, excerpt: excerpt))
                }
            }
            start = end + 1
        }
        return .success(points)
    }

    struct Reason: Error {
        let text: String
        init(_ text: String) { self.text = text }
    }

    /// The last name read and its bytes.
    struct NameCache {
        var bytes: ArraySlice<UInt8> = []
        var text = ""

        /// The text of `slice` (valid UTF-8 without escapes), from the cache when it holds it.
        mutating func text(of slice: ArraySlice<UInt8>) -> String? {
            if slice.count == bytes.count, slice.elementsEqual(bytes) { return text }
            guard let decoded = String(validating: slice, as: UTF8.self) else { return nil }
            (bytes, text) = (slice, decoded)
            return decoded
        }
    }

    /// Reads one line.
    struct LineReader {
        let bytes: [UInt8]
        var position: Int
        let end: Int

        static let space: UInt8 = 0x20
        static let tab: UInt8 = 0x09
        static let comma: UInt8 = 0x2C
        static let equals: UInt8 = 0x3D
        static let backslash: UInt8 = 0x5C
        static let quote: UInt8 = 0x22

        mutating func point(precision: Precision, defaultTime: Int64, line: Int, measurements: inout NameCache) -> Result<Point, Reason> {
            do {
                let measurement = try name("measurement", cache: &measurements)
                guard !measurement.isEmpty else { throw Reason("missing measurement") }
                var tags: [(key: String, value: String)] = []
                while position < end, bytes[position] == Self.comma {
                    position += 1
                    let key = try name("tag key")
                    guard position < end, bytes[position] == Self.equals, !key.isEmpty else { throw Reason("missing tag value") }
                    position += 1
                    let value = try name("tag value")
                    guard !value.isEmpty else { throw Reason("missing tag value") }
                    tags.append((key, value))
                }
                guard position < end, bytes[position] == Self.space else { throw Reason("missing fields") }
                while position < end, bytes[position] == Self.space { position += 1 }
                var fields: [(key: String, value: FieldValue)] = []
                repeat {
                    if !fields.isEmpty { position += 1 }  // the comma
                    let key = try name("field key")
                    guard !key.isEmpty else { throw Reason("missing field key") }
                    guard position < end, bytes[position] == Self.equals else { throw Reason("missing field value") }
                    position += 1
                    fields.append((key, try fieldValue()))
                } while position < end && bytes[position] == Self.comma
                var timestamp = defaultTime
                if position < end {
                    guard bytes[position] == Self.space else { throw Reason("invalid field format") }
                    while position < end, bytes[position] == Self.space || bytes[position] == Self.tab { position += 1 }
                    if position < end {
                        let value = try integer()
                        let (scaled, overflow) = value.multipliedReportingOverflow(by: precision.nanosecondsPerUnit)
                        guard !overflow else { throw Reason("time outside range") }
                        timestamp = scaled
                    }
                }
                return .success(Point(measurement: measurement, tags: tags, fields: fields, timestamp: timestamp, line: line))
            } catch let reason as Reason {
                return .failure(reason)
            } catch {
                return .failure(Reason("invalid line"))
            }
        }

        /// A measurement, key or tag value: up to an unescaped comma, space or `=`, with `\,`,
        /// `\ `, `\=` and `\\` read as the escaped byte.
        mutating func name(_ what: String) throws -> String {
            var cache = NameCache()
            return try name(what, cache: &cache)
        }

        mutating func name(_ what: String, cache: inout NameCache) throws -> String {
            let start = position
            while position < end {
                let byte = bytes[position]
                if byte == Self.comma || byte == Self.space || byte == Self.equals { break }
                if byte == Self.backslash { return try escapedName(from: start, what) }
                position += 1
            }
            guard let text = cache.text(of: bytes[start..<position]) else { throw Reason("invalid UTF-8 in \(what)") }
            return text
        }

        /// The slow path of ``name(_:cache:)``: a name holding a backslash.
        mutating func escapedName(from start: Int, _ what: String) throws -> String {
            var out = Array(bytes[start..<position])
            while position < end {
                let byte = bytes[position]
                if byte == Self.backslash, position + 1 < end {
                    let next = bytes[position + 1]
                    if next == Self.comma || next == Self.space || next == Self.equals || next == Self.backslash {
                        out.append(next)
                        position += 2
                        continue
                    }
                }
                if byte == Self.comma || byte == Self.space || byte == Self.equals { break }
                out.append(byte)
                position += 1
            }
            guard let text = String(validating: out, as: UTF8.self) else { throw Reason("invalid UTF-8 in \(what)") }
            return text
        }

        /// The timestamp: an integer, then only spaces or tabs to the end of the line.
        mutating func integer() throws -> Int64 {
            var negative = false
            if bytes[position] == 0x2D || bytes[position] == 0x2B {  // - or +
                negative = bytes[position] == 0x2D
                position += 1
            }
            let digits = position
            var value: Int64 = 0
            while position < end, (0x30...0x39).contains(bytes[position]) {
                let digit = Int64(bytes[position] - 0x30)
                let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
                let (next, overflow2) = negative ? times10.subtractingReportingOverflow(digit) : times10.addingReportingOverflow(digit)
                guard !overflow, !overflow2 else { throw Reason("bad timestamp") }
                value = next
                position += 1
            }
            guard position > digits else { throw Reason("bad timestamp") }
            while position < end, bytes[position] == Self.space || bytes[position] == Self.tab { position += 1 }
            guard position == end else { throw Reason("bad timestamp") }
            return value
        }

        mutating func fieldValue() throws -> FieldValue {
            guard position < end else { throw Reason("missing field value") }
            if bytes[position] == Self.quote {
                position += 1
                var out: [UInt8] = []
                while position < end {
                    let byte = bytes[position]
                    if byte == Self.backslash, position + 1 < end, bytes[position + 1] == Self.quote || bytes[position + 1] == Self.backslash {
                        out.append(bytes[position + 1])
                        position += 2
                        continue
                    }
                    if byte == Self.quote {
                        position += 1
                        guard let text = String(validating: out, as: UTF8.self) else { throw Reason("invalid UTF-8 in a string field") }
                        return .string(text)
                    }
                    out.append(byte)
                    position += 1
                }
                throw Reason("unbalanced quotes")
            }
            let start = position
            while position < end, bytes[position] != Self.comma, bytes[position] != Self.space { position += 1 }
            guard position > start else { throw Reason("invalid number") }
            let first = bytes[start]
            let last = bytes[position - 1]
            // Numbers start with a digit, a sign or a point; anything else may be a boolean.
            guard (0x30...0x39).contains(first) || first == 0x2D || first == 0x2B || first == 0x2E else {
                switch String(decoding: bytes[start..<position], as: UTF8.self) {
                case "t", "T", "true", "True", "TRUE": return .boolean(true)
                case "f", "F", "false", "False", "FALSE": return .boolean(false)
                default: throw Reason("invalid number")
                }
            }
            if last == 0x69, let value = Int64(String(decoding: bytes[start..<position - 1], as: UTF8.self)) { return .integer(value) }  // i
            if last == 0x75, let value = UInt64(String(decoding: bytes[start..<position - 1], as: UTF8.self)) { return .unsigned(value) }  // u
            guard let value = Double(String(decoding: bytes[start..<position], as: UTF8.self)), value.isFinite else {
                throw Reason("invalid number")
            }
            return .float(value)
        }
    }
}

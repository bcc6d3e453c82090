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
                switch reader.point(precision: precision, defaultTime: defaultTime, line: lineNumber) {
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

    /// Reads one line.
    struct LineReader {
        let bytes: [UInt8]
        var position: Int
        let end: Int

        static let space: UInt8 = 0x20
        static let comma: UInt8 = 0x2C
        static let equals: UInt8 = 0x3D
        static let backslash: UInt8 = 0x5C
        static let quote: UInt8 = 0x22

        mutating func point(precision: Precision, defaultTime: Int64, line: Int) -> Result<Point, Reason> {
            do {
                let measurement = try name(stoppingAt: [Self.comma, Self.space], what: "measurement")
                guard !measurement.isEmpty else { throw Reason("missing measurement") }
                var tags: [(key: String, value: String)] = []
                while position < end, bytes[position] == Self.comma {
                    position += 1
                    let key = try name(stoppingAt: [Self.equals, Self.space, Self.comma], what: "tag key")
                    guard position < end, bytes[position] == Self.equals, !key.isEmpty else { throw Reason("missing tag value") }
                    position += 1
                    let value = try name(stoppingAt: [Self.comma, Self.space], what: "tag value")
                    guard !value.isEmpty else { throw Reason("missing tag value") }
                    tags.append((key, value))
                }
                guard position < end, bytes[position] == Self.space else { throw Reason("missing fields") }
                while position < end, bytes[position] == Self.space { position += 1 }
                var fields: [(key: String, value: FieldValue)] = []
                repeat {
                    if !fields.isEmpty { position += 1 }  // the comma
                    let key = try name(stoppingAt: [Self.equals, Self.space, Self.comma], what: "field key")
                    guard !key.isEmpty else { throw Reason("missing field key") }
                    guard position < end, bytes[position] == Self.equals else { throw Reason("missing field value") }
                    position += 1
                    fields.append((key, try fieldValue()))
                } while position < end && bytes[position] == Self.comma
                var timestamp = defaultTime
                if position < end {
                    guard bytes[position] == Self.space else { throw Reason("invalid field format") }
                    while position < end, bytes[position] == Self.space { position += 1 }
                    if position < end {
                        let text = String(decoding: bytes[position..<end], as: UTF8.self).trimmingCharacters(in: .whitespaces)
                        guard let value = Int64(text) else { throw Reason("bad timestamp") }
                        let (scaled, overflow) = value.multipliedReportingOverflow(by: precision.nanosecondsPerUnit)
                        guard !overflow else { throw Reason("time outside range") }
                        timestamp = scaled
                        position = end
                    }
                }
                return .success(Point(measurement: measurement, tags: tags, fields: fields, timestamp: timestamp, line: line))
            } catch let reason as Reason {
                return .failure(reason)
            } catch {
                return .failure(Reason("invalid line"))
            }
        }

        /// A measurement, key or tag value up to an unescaped stop byte.
        mutating func name(stoppingAt stops: [UInt8], what: String) throws -> String {
            var out: [UInt8] = []
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
                if stops.contains(byte) { break }
                if byte == Self.equals, what == "measurement" || what == "tag value" { break }
                out.append(byte)
                position += 1
            }
            guard let text = String(validating: out, as: UTF8.self) else { throw Reason("invalid UTF-8 in \(what)") }
            return text
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
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            switch text {
            case "t", "T", "true", "True", "TRUE": return .boolean(true)
            case "f", "F", "false", "False", "FALSE": return .boolean(false)
            default: break
            }
            if text.hasSuffix("i"), let value = Int64(text.dropLast()) { return .integer(value) }
            if text.hasSuffix("u"), let value = UInt64(text.dropLast()) { return .unsigned(value) }
            guard let value = Double(text), value.isFinite, text.first.map({ $0.isNumber || $0 == "-" || $0 == "+" || $0 == "." }) == true else {
                throw Reason("invalid number")
            }
            return .float(value)
        }
    }
}

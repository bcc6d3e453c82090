public import Foundation

/// A value that writes its own JSON, for the responses and events written with every request
/// (lists, details, progress): several times faster than Foundation's `JSONEncoder`, which
/// goes through `Encoder` containers and boxes every value.
///
/// The output must be what `JSONEncoder` with sorted keys, unescaped slashes and ISO 8601
/// dates (the API's encoder) makes of the same value — the `Encodable` conformance stays the
/// reference. A conforming type writes its keys in sorted order, leaves out `nil` optionals as
/// synthesized `Encodable` does, and has a test comparing both outputs.
///
/// ```swift
/// extension Point: JSONWritable {
///     public func write(to json: inout JSONWriter) {
///         json.object { json in
///             json.field("x", x)
///             json.field("y", y)
///         }
///     }
/// }
/// ```
public protocol JSONWritable: Encodable {
    /// Writes the value as one JSON value.
    func write(to json: inout JSONWriter)
}

extension JSONWritable {
    /// The value's JSON.
    public var jsonBytes: [UInt8] {
        var writer = JSONWriter()
        write(to: &writer)
        return writer.bytes
    }
}

/// Writes JSON into a byte array: objects, arrays, keys and scalars, with the commas between
/// them (see ``JSONWritable``).
public struct JSONWriter: Sendable {
    /// The JSON written so far.
    public private(set) var bytes: [UInt8] = []
    /// Whether the next value or key follows another one (and needs a comma).
    private var followsValue = false

    public init(capacity: Int = 512) {
        bytes.reserveCapacity(capacity)
    }

    // MARK: Structure

    /// Writes an object whose members `body` writes with ``field(_:_:)-(_,String)`` and friends.
    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "{"))
        followsValue = false
        body(&self)
        bytes.append(UInt8(ascii: "}"))
        followsValue = true
    }

    /// Writes an array whose values `body` writes one after another (a tuple as JSON).
    public mutating func array(_ body: (inout JSONWriter) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "["))
        followsValue = false
        body(&self)
        bytes.append(UInt8(ascii: "]"))
        followsValue = true
    }

    /// Writes an array of `elements`, each written by `element`.
    public mutating func array<Elements: Sequence>(_ elements: Elements, _ element: (inout JSONWriter, Elements.Element) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "["))
        followsValue = false
        for item in elements { element(&self, item) }
        bytes.append(UInt8(ascii: "]"))
        followsValue = true
    }

    /// Writes an object whose members are a dictionary's, keys in the order `JSONEncoder` sorts
    /// them (by their UTF-8 bytes), each value written by `value`.
    public mutating func object<Value>(_ members: [String: Value], _ value: (inout JSONWriter, Value) -> Void) {
        object { json in
            for (key, member) in members.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                json.key(key)
                value(&json, member)
            }
        }
    }

    /// Writes an object member's key given at run time (escaped as a string is).
    public mutating func key(_ key: String) {
        value(key)
        bytes.append(UInt8(ascii: ":"))
        followsValue = false
    }

    /// Writes an object member's key; the next value written is its value.
    public mutating func key(_ key: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        followsValue = false
    }

    /// Writes JSON that is already encoded (one complete value), as it is.
    public mutating func raw(_ json: some Collection<UInt8>) {
        separate()
        bytes.append(contentsOf: json)
        followsValue = true
    }

    private mutating func separate() {
        if followsValue { bytes.append(UInt8(ascii: ",")) }
    }

    // MARK: Scalars

    /// Writes a string, escaped as `JSONEncoder` escapes it (slashes are left alone).
    public mutating func value(_ string: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { utf8 in
            var start = 0
            for index in utf8.indices {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                start = index + 1
                switch byte {
                case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
                case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
                case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                default:
                    bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                    bytes.append(Self.hexDigits[Int(byte >> 4)])
                    bytes.append(Self.hexDigits[Int(byte & 0xF)])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        bytes.append(UInt8(ascii: "\""))
        followsValue = true
    }

    /// Writes an integer.
    public mutating func value(_ number: some BinaryInteger) {
        separate()
        if number < 0 { bytes.append(UInt8(ascii: "-")) }
        // The digits last first, then turned around in place.
        let start = bytes.count
        var magnitude = number.magnitude
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        bytes[start...].reverse()
        followsValue = true
    }

    /// Writes `true` or `false`.
    public mutating func value(_ flag: Bool) {
        separate()
        bytes.append(contentsOf: flag ? Self.trueBytes : Self.falseBytes)
        followsValue = true
    }

    /// Writes a number as `JSONEncoder` does: its shortest form that reads back the same
    /// (Swift's `description`), a whole number without its `.0`. `JSONEncoder` refuses NaN and
    /// the infinities; they are written `null`.
    public mutating func value(_ number: Double) {
        guard number.isFinite else { return null() }
        separate()
        let text = number.description
        if text.hasSuffix(".0") { bytes.append(contentsOf: text.utf8.dropLast(2)) } else { bytes.append(contentsOf: text.utf8) }
        followsValue = true
    }

    /// Writes `null`.
    public mutating func null() {
        separate()
        bytes.append(contentsOf: [UInt8(ascii: "n"), UInt8(ascii: "u"), UInt8(ascii: "l"), UInt8(ascii: "l")])
        followsValue = true
    }

    /// Writes a UUID as `JSONEncoder` does (upper-case, hyphenated).
    public mutating func value(_ uuid: UUID) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        withUnsafeBytes(of: uuid.uuid) { raw in
            for (index, byte) in raw.enumerated() {
                if index == 4 || index == 6 || index == 8 || index == 10 { bytes.append(UInt8(ascii: "-")) }
                bytes.append(Self.upperHexDigits[Int(byte >> 4)])
                bytes.append(Self.upperHexDigits[Int(byte & 0xF)])
            }
        }
        bytes.append(UInt8(ascii: "\""))
        followsValue = true
    }

    /// Writes a date as `JSONEncoder`'s `.iso8601` strategy does: UTC, whole seconds
    /// (`2026-01-31T08:00:00Z`).
    public mutating func value(_ date: Date) {
        separate()
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let (days, secondOfDay) = (seconds.floorDivided(by: 86_400), seconds.floorModulo(86_400))
        let (year, month, day) = Self.civilDate(daysSince1970: days)
        bytes.append(UInt8(ascii: "\""))
        appendDigits(year, count: 4)
        bytes.append(UInt8(ascii: "-"))
        appendDigits(month, count: 2)
        bytes.append(UInt8(ascii: "-"))
        appendDigits(day, count: 2)
        bytes.append(UInt8(ascii: "T"))
        appendDigits(secondOfDay / 3600, count: 2)
        bytes.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay / 60 % 60, count: 2)
        bytes.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay % 60, count: 2)
        bytes.append(contentsOf: [UInt8(ascii: "Z"), UInt8(ascii: "\"")])
        followsValue = true
    }

    /// Writes a value that writes itself.
    public mutating func value(_ value: some JSONWritable) {
        value.write(to: &self)
    }

    /// Writes an array of strings.
    public mutating func value(_ strings: [String]) {
        array(strings) { $0.value($1) }
    }

    // MARK: Members

    /// Writes a member.
    public mutating func field(_ key: StaticString, _ value: String) {
        self.key(key)
        self.value(value)
    }

    /// Writes a member, or nothing for `nil` (as synthesized `Encodable` does).
    public mutating func field(_ key: StaticString, _ value: String?) {
        guard let value else { return }
        field(key, value)
    }

    /// Writes a member.
    public mutating func field(_ key: StaticString, _ value: some BinaryInteger) {
        self.key(key)
        self.value(value)
    }

    /// Writes a member.
    public mutating func field(_ key: StaticString, _ value: Double) {
        self.key(key)
        self.value(value)
    }

    /// Writes a member, or nothing for `nil`.
    public mutating func field(_ key: StaticString, _ value: Double?) {
        guard let value else { return }
        field(key, value)
    }

    /// Writes a member.
    public mutating func field(_ key: StaticString, _ value: Bool) {
        self.key(key)
        self.value(value)
    }

    /// Writes a member.
    public mutating func field(_ key: StaticString, _ value: UUID) {
        self.key(key)
        self.value(value)
    }

    /// Writes a member, or nothing for `nil`.
    public mutating func field(_ key: StaticString, _ value: UUID?) {
        guard let value else { return }
        field(key, value)
    }

    /// Writes a member.
    public mutating func field(_ key: StaticString, _ value: Date) {
        self.key(key)
        self.value(value)
    }

    /// Writes a member, or nothing for `nil`.
    public mutating func field(_ key: StaticString, _ value: Date?) {
        guard let value else { return }
        field(key, value)
    }

    /// Writes a member.
    public mutating func field(_ key: StaticString, _ value: [String]) {
        self.key(key)
        self.value(value)
    }

    /// Writes a member whose value writes itself.
    public mutating func field(_ key: StaticString, _ value: some JSONWritable) {
        self.key(key)
        value.write(to: &self)
    }

    /// Writes a member whose value writes itself, or nothing for `nil`.
    public mutating func field(_ key: StaticString, _ value: (some JSONWritable)?) {
        guard let value else { return }
        field(key, value)
    }

    /// Writes a member holding an array of values that write themselves.
    public mutating func field(_ key: StaticString, _ values: [some JSONWritable]) {
        self.key(key)
        array(values) { $1.write(to: &$0) }
    }

    /// Writes a member holding an enumeration's raw string.
    public mutating func field<Value: RawRepresentable<String>>(_ key: StaticString, _ value: Value) {
        field(key, value.rawValue)
    }

    /// Writes a member holding an enumeration's raw string, or nothing for `nil`.
    public mutating func field<Value: RawRepresentable<String>>(_ key: StaticString, _ value: Value?) {
        guard let value else { return }
        field(key, value.rawValue)
    }

    // MARK: Helpers

    private static let trueBytes: [UInt8] = Array("true".utf8)
    private static let falseBytes: [UInt8] = Array("false".utf8)
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
    private static let upperHexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    private mutating func appendDigits(_ number: Int64, count: Int) {
        var divisor: Int64 = 1
        for _ in 1..<count { divisor *= 10 }
        var rest = number
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
            rest %= divisor
            divisor /= 10
        }
    }

    /// The proleptic Gregorian date of a day number (Howard Hinnant's `civil_from_days`).
    private static func civilDate(daysSince1970 days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = z.floorDivided(by: 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    fileprivate func floorModulo(_ divisor: Int64) -> Int64 {
        self - floorDivided(by: divisor) * divisor
    }
}

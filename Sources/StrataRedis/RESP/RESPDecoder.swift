/// Decodes RESP2 and RESP3 replies from bytes, incrementally.
///
/// Feed whatever arrived with ``append(_:)``, then call ``next()`` until it returns `nil`
/// (more bytes needed). A frame is consumed only once it is complete, so a reply split across
/// reads is simply waited for. Malformed input throws ``RESPDecodingError``; it never traps,
/// whatever the bytes (checked by a randomized test over garbage and truncated frames).
///
/// Limits keep hostile or corrupt input from exhausting memory or the stack: nesting depth,
/// aggregate element count, bulk length and simple-line length.
///
/// ```swift
/// var decoder = RESPDecoder()
/// decoder.append(Array("+OK\r\n:4".utf8))
/// try decoder.next()   // .simpleString("OK")
/// try decoder.next()   // nil: ":4" is not complete yet
/// ```
public struct RESPDecoder: Sendable {
    /// Bounds on what a frame may contain.
    public struct Limits: Sendable {
        public var maximumDepth: Int
        public var maximumElements: Int
        public var maximumBulkLength: Int
        public var maximumLineLength: Int

        public init(
            maximumDepth: Int = 64,
            maximumElements: Int = 1 << 24,
            maximumBulkLength: Int = 512 << 20,
            maximumLineLength: Int = 64 << 10
        ) {
            self.maximumDepth = maximumDepth
            self.maximumElements = maximumElements
            self.maximumBulkLength = maximumBulkLength
            self.maximumLineLength = maximumLineLength
        }
    }

    private var buffer: [UInt8] = []
    private var start = 0
    public let limits: Limits

    public init(limits: Limits = .init()) {
        self.limits = limits
    }

    /// Bytes received and not yet decoded.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Adds received bytes.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete value, or `nil` when more bytes are needed.
    /// - Throws: ``RESPDecodingError`` for malformed input; the decoder is then unusable.
    public mutating func next() throws(RESPDecodingError) -> RESPValue? {
        var cursor = start
        guard let value = try parse(&cursor, depth: 0) else { return nil }
        start = cursor
        return value
    }

    // MARK: Parsing

    /// Parses one value at `cursor`; returns nil (cursor unchanged in meaning) if incomplete.
    private func parse(_ cursor: inout Int, depth: Int) throws(RESPDecodingError) -> RESPValue? {
        guard depth <= limits.maximumDepth else { throw .tooDeep }
        guard cursor < buffer.count else { return nil }
        let type = buffer[cursor]
        var position = cursor + 1
        guard let line = try readLine(&position) else { return nil }
        let value: RESPValue
        switch type {
        case UInt8(ascii: "+"):
            value = .simpleString(String(decoding: buffer[line], as: UTF8.self))
        case UInt8(ascii: "-"):
            value = .error(String(decoding: buffer[line], as: UTF8.self))
        case UInt8(ascii: ":"):
            value = .integer(try integer(line))
        case UInt8(ascii: "_"):
            guard line.isEmpty else { throw .malformed("null with a payload") }
            value = .null
        case UInt8(ascii: "#"):
            guard line.count == 1 else { throw .malformed("boolean") }
            switch buffer[line.lowerBound] {
            case UInt8(ascii: "t"): value = .boolean(true)
            case UInt8(ascii: "f"): value = .boolean(false)
            default: throw .malformed("boolean")
            }
        case UInt8(ascii: ","):
            let text = String(decoding: buffer[line], as: UTF8.self)
            switch text.lowercased() {
            case "inf": value = .double(.infinity)
            case "-inf": value = .double(-.infinity)
            case "nan": value = .double(.nan)
            default:
                guard let number = Double(text) else { throw .malformed("double") }
                value = .double(number)
            }
        case UInt8(ascii: "("):
            let digits = buffer[line]
            let body = digits.first == UInt8(ascii: "-") || digits.first == UInt8(ascii: "+") ? digits.dropFirst() : digits[...]
            guard !body.isEmpty, body.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { throw .malformed("big number") }
            value = .bigNumber(String(decoding: digits, as: UTF8.self))
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            let length = try integer(line)
            if length == -1 && type == UInt8(ascii: "$") {
                value = .null
                break
            }
            guard length >= 0, length <= limits.maximumBulkLength else { throw .tooLarge }
            let end = position + Int(length)
            guard end + 2 <= buffer.count else { return nil }
            guard buffer[end] == 0x0D, buffer[end + 1] == 0x0A else { throw .malformed("bulk string terminator") }
            let bytes = Array(buffer[position..<end])
            position = end + 2
            switch type {
            case UInt8(ascii: "!"):
                value = .error(String(decoding: bytes, as: UTF8.self))
            case UInt8(ascii: "="):
                guard bytes.count >= 4, bytes[3] == UInt8(ascii: ":") else { throw .malformed("verbatim string") }
                value = .verbatimString(
                    format: String(decoding: bytes[0..<3], as: UTF8.self),
                    text: String(decoding: bytes[4...], as: UTF8.self)
                )
            default:
                value = .bulkString(bytes)
            }
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
            let count = try integer(line)
            if count == -1 && type == UInt8(ascii: "*") {
                value = .null
                break
            }
            guard count >= 0, count <= limits.maximumElements else { throw .tooLarge }
            let isMap = type == UInt8(ascii: "%") || type == UInt8(ascii: "|")
            let total = isMap ? Int(count) * 2 : Int(count)
            var elements: [RESPValue] = []
            elements.reserveCapacity(min(total, 1024))
            for _ in 0..<total {
                guard let element = try parse(&position, depth: depth + 1) else { return nil }
                elements.append(element)
            }
            switch type {
            case UInt8(ascii: "~"): value = .set(elements)
            case UInt8(ascii: ">"): value = .push(elements)
            case UInt8(ascii: "*"): value = .array(elements)
            default:
                let pairs = stride(from: 0, to: elements.count, by: 2).map { RESPValue.Pair(key: elements[$0], value: elements[$0 + 1]) }
                if type == UInt8(ascii: "|") {
                    // An attribute annotates the reply that follows it; the reply is what callers want.
                    guard let reply = try parse(&position, depth: depth + 1) else { return nil }
                    cursor = position
                    return reply
                }
                value = .map(pairs)
            }
        default:
            throw .unknownType(type)
        }
        cursor = position
        return value
    }

    /// The bytes of the line at `position` (without CRLF), advancing past the CRLF; nil if the
    /// line is not complete yet.
    private func readLine(_ position: inout Int) throws(RESPDecodingError) -> Range<Int>? {
        let lineStart = position
        var index = position
        while index < buffer.count {
            if buffer[index] == 0x0D {
                guard index + 1 < buffer.count else { return nil }
                guard buffer[index + 1] == 0x0A else { throw .malformed("CR without LF") }
                position = index + 2
                return lineStart..<index
            }
            if buffer[index] == 0x0A { throw .malformed("LF without CR") }
            index += 1
            if index - lineStart > limits.maximumLineLength { throw .tooLarge }
        }
        if index - lineStart > limits.maximumLineLength { throw .tooLarge }
        return nil
    }

    private func integer(_ line: Range<Int>) throws(RESPDecodingError) -> Int64 {
        guard !line.isEmpty, line.count <= 20, let value = Int64(String(decoding: buffer[line], as: UTF8.self)) else {
            throw .malformed("integer")
        }
        return value
    }
}

/// Why bytes are not valid RESP.
public enum RESPDecodingError: Error, Sendable, Equatable {
    /// The first byte of a frame is not a RESP type.
    case unknownType(UInt8)
    /// A frame is malformed (the string says which part).
    case malformed(String)
    /// A length, count or line exceeds the decoder's limits.
    case tooLarge
    /// Aggregates are nested deeper than the decoder allows.
    case tooDeep
}

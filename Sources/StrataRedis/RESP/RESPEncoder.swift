public import NIOCore

/// Encodes commands as RESP arrays of bulk strings, the form every Redis command takes.
public enum RESPEncoder {
    /// Appends `*N\r\n$len\r\narg\r\n…` for the command's arguments, straight into the
    /// buffer that goes to the socket.
    public static func encode(_ arguments: [[UInt8]], into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "*"))
        writeDecimal(arguments.count, to: &buffer)
        buffer.writeStaticString("\r\n")
        for argument in arguments {
            buffer.writeInteger(UInt8(ascii: "$"))
            writeDecimal(argument.count, to: &buffer)
            buffer.writeStaticString("\r\n")
            buffer.writeBytes(argument)
            buffer.writeStaticString("\r\n")
        }
    }

    /// The encoding of one command.
    public static func encode(_ arguments: [[UInt8]]) -> [UInt8] {
        var buffer = ByteBufferAllocator().buffer(capacity: arguments.reduce(16) { $0 + $1.count + 16 })
        encode(arguments, into: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// Encodes any value (used by tests and tools that write replies).
    public static func encodeValue(_ value: RESPValue, into output: inout [UInt8]) {
        func line(_ prefix: Character, _ text: String) {
            output.append(contentsOf: Array(String(prefix).utf8))
            output.append(contentsOf: Array(text.utf8))
            output.append(contentsOf: [0x0D, 0x0A])
        }
        switch value {
        case .simpleString(let text): line("+", text)
        case .error(let text): line("-", text)
        case .integer(let number): line(":", String(number))
        case .null: line("_", "")
        case .boolean(let flag): line("#", flag ? "t" : "f")
        case .double(let number):
            line(",", number.isNaN ? "nan" : number == .infinity ? "inf" : number == -.infinity ? "-inf" : "\(number)")
        case .bigNumber(let digits): line("(", digits)
        case .bulkString(let bytes):
            line("$", String(bytes.count))
            output.append(contentsOf: bytes)
            output.append(contentsOf: [0x0D, 0x0A])
        case .verbatimString(let format, let text):
            let body = Array((format + ":" + text).utf8)
            line("=", String(body.count))
            output.append(contentsOf: body)
            output.append(contentsOf: [0x0D, 0x0A])
        case .array(let elements), .set(let elements), .push(let elements):
            let prefix: Character = if case .set = value { "~" } else if case .push = value { ">" } else { "*" }
            line(prefix, String(elements.count))
            for element in elements { encodeValue(element, into: &output) }
        case .map(let pairs):
            line("%", String(pairs.count))
            for pair in pairs {
                encodeValue(pair.key, into: &output)
                encodeValue(pair.value, into: &output)
            }
        }
    }

    /// Writes a non-negative count in decimal without going through `String`.
    private static func writeDecimal(_ value: Int, to buffer: inout ByteBuffer) {
        if value < 10 {
            buffer.writeInteger(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: max(0, value)))
            return
        }
        var divisor = 1
        while divisor <= value / 10 { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            buffer.writeInteger(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
}

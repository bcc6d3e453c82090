/// Encodes commands as RESP arrays of bulk strings, the form every Redis command takes.
public enum RESPEncoder {
    /// Appends `*N\r\n$len\r\narg\r\n…` for the command's arguments.
    public static func encode(_ arguments: [[UInt8]], into output: inout [UInt8]) {
        output.append(UInt8(ascii: "*"))
        appendDecimal(arguments.count, to: &output)
        output.append(contentsOf: [0x0D, 0x0A])
        for argument in arguments {
            output.append(UInt8(ascii: "$"))
            appendDecimal(argument.count, to: &output)
            output.append(contentsOf: [0x0D, 0x0A])
            output.append(contentsOf: argument)
            output.append(contentsOf: [0x0D, 0x0A])
        }
    }

    /// The encoding of one command.
    public static func encode(_ arguments: [[UInt8]]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(arguments.reduce(16) { $0 + $1.count + 16 })
        encode(arguments, into: &output)
        return output
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

    /// Appends a non-negative count in decimal without going through `String`.
    private static func appendDecimal(_ value: Int, to output: inout [UInt8]) {
        if value < 10 {
            output.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: max(0, value)))
            return
        }
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            while rest > 0 {
                buffer[count] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
                count += 1
            }
            for index in stride(from: count - 1, through: 0, by: -1) { output.append(buffer[index]) }
        }
    }
}

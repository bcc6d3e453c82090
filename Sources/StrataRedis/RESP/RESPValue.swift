/// A value of the Redis serialization protocol, RESP2 and RESP3.
///
/// RESP2 nulls (`$-1`, `*-1`) and the RESP3 null (`_`) all decode to ``null``.
public enum RESPValue: Sendable, Equatable {
    /// `+OK`
    case simpleString(String)
    /// `-ERR message`: a reply that reports a failed command.
    case error(String)
    /// `:42`
    case integer(Int64)
    /// `$5\r\nhello`: binary-safe bytes.
    case bulkString([UInt8])
    /// `_`, `$-1`, `*-1`
    case null
    /// `*2 …`
    case array([RESPValue])
    /// `,3.14` (RESP3)
    case double(Double)
    /// `#t` (RESP3)
    case boolean(Bool)
    /// `(3492890328409238509324850943850943825024385` (RESP3), kept as its digits.
    case bigNumber(String)
    /// `=15\r\ntxt:Some string` (RESP3)
    case verbatimString(format: String, text: String)
    /// `%2 …` (RESP3), in the order received.
    case map([Pair])
    /// `~3 …` (RESP3)
    case set([RESPValue])
    /// `>3 …` (RESP3): out-of-band data such as pub/sub messages.
    case push([RESPValue])

    /// A key and value of a map.
    public struct Pair: Sendable, Equatable {
        public var key: RESPValue
        public var value: RESPValue

        public init(key: RESPValue, value: RESPValue) {
            self.key = key
            self.value = value
        }
    }

    /// The value as text, for simple and bulk strings (bulk strings decoded as UTF-8).
    public var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let bytes): String(decoding: bytes, as: UTF8.self)
        case .verbatimString(_, let text): text
        default: nil
        }
    }

    /// The value as an integer, for integers and numeric strings.
    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .simpleString, .bulkString: string.flatMap { Int64($0) }
        default: nil
        }
    }
}

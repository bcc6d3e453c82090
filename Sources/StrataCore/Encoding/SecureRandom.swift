/// Random bytes from the system's cryptographically secure generator: the one source of
/// secrets, tokens, passwords and ids.
public enum SecureRandom {
    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            var word: UInt64 = generator.next()
            for _ in 0..<min(8, count - bytes.count) {
                bytes.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return bytes
    }

    /// `count` random bytes as lowercase hex (`2 × count` characters).
    public static func hex(bytes count: Int) -> String {
        Hex.encode(bytes(count))
    }

    /// `count` characters drawn uniformly (no modulo bias) from `alphabet`, which must be ASCII:
    /// keys, logins, passwords and codes.
    public static func string(_ count: Int, from alphabet: String) -> String {
        let characters = Array(alphabet.utf8)
        precondition(!characters.isEmpty && characters.allSatisfy { $0 < 0x80 }, "the alphabet must be non-empty ASCII")
        var generator = SystemRandomNumberGenerator()
        return String(decoding: (0..<count).map { _ in characters[Int(generator.next(upperBound: UInt64(characters.count)))] }, as: UTF8.self)
    }
}

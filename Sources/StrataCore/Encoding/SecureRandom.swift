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
}

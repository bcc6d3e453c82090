import StrataRedis
import StrataTestSupport
import Testing

@Suite struct RESPDecoderTests {
    func randomValue(_ random: inout SeededGenerator, depth: Int = 0) -> RESPValue {
        let leaf = depth >= 3 || Int.random(in: 0..<3, using: &random) > 0
        if leaf {
            switch Int.random(in: 0..<9, using: &random) {
            case 0: return .simpleString("OK\(Int.random(in: 0..<100, using: &random))")
            case 1: return .error("ERR something \(Int.random(in: 0..<9, using: &random))")
            case 2: return .integer(Int64.random(in: Int64.min...Int64.max, using: &random))
            case 3: return .bulkString((0..<Int.random(in: 0..<40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) })
            case 4: return .null
            case 5: return .double(Double(Int.random(in: -1000...1000, using: &random)) / 8)
            case 6: return .boolean(Bool.random(using: &random))
            case 7: return .bigNumber("-\(UInt64.random(in: 1...UInt64.max, using: &random))987654321")
            default: return .verbatimString(format: "txt", text: "line\r\nwith crlf \(depth)")
            }
        }
        let count = Int.random(in: 0..<5, using: &random)
        let elements = (0..<count).map { _ in randomValue(&random, depth: depth + 1) }
        switch Int.random(in: 0..<4, using: &random) {
        case 0: return .set(elements)
        case 1: return .push(elements)
        case 2: return .map(elements.map { RESPValue.Pair(key: .simpleString("k"), value: $0) })
        default: return .array(elements)
        }
    }

    func encoded(_ value: RESPValue) -> [UInt8] {
        var bytes: [UInt8] = []
        RESPEncoder.encodeValue(value, into: &bytes)
        return bytes
    }

    @Test func decodesEveryTypeOfBothProtocolVersions() throws {
        var decoder = RESPDecoder()
        decoder.append(Array("+OK\r\n-ERR bad\r\n:-42\r\n$5\r\nhe\r\no\r\n$-1\r\n*-1\r\n_\r\n#t\r\n,3.5\r\n,inf\r\n(-12345678901234567890\r\n".utf8))
        decoder.append(
            Array("=6\r\ntxt:hi\r\n!7\r\nBAD err\r\n*2\r\n:1\r\n$1\r\nx\r\n%1\r\n+key\r\n:7\r\n~1\r\n#f\r\n>2\r\n+message\r\n+hello\r\n".utf8)
        )
        decoder.append(Array("|1\r\n+ttl\r\n:3600\r\n+after-attribute\r\n".utf8))
        var values: [RESPValue] = []
        while let value = try decoder.next() { values.append(value) }
        #expect(
            values == [
                .simpleString("OK"), .error("ERR bad"), .integer(-42), .bulkString(Array("he\r\no".utf8)), .null, .null, .null,
                .boolean(true), .double(3.5), .double(.infinity), .bigNumber("-12345678901234567890"),
                .verbatimString(format: "txt", text: "hi"), .error("BAD err"), .array([.integer(1), .bulkString([UInt8(ascii: "x")])]),
                .map([.init(key: .simpleString("key"), value: .integer(7))]), .set([.boolean(false)]),
                .push([.simpleString("message"), .simpleString("hello")]), .simpleString("after-attribute"),
            ]
        )
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func randomValuesRoundTripEvenWhenDeliveredByteByByte() throws {
        var random = SeededGenerator(state: 42)
        for _ in 0..<300 {
            let value = randomValue(&random)
            let bytes = encoded(value)
            var whole = RESPDecoder()
            whole.append(bytes)
            #expect(try whole.next() == value)
            var trickle = RESPDecoder()
            var decoded: RESPValue?
            for byte in bytes {
                #expect(decoded == nil)
                trickle.append([byte])
                decoded = try trickle.next()
            }
            #expect(decoded == value)
        }
    }

    @Test func everyProperPrefixIsIncompleteNotAnError() throws {
        var random = SeededGenerator(state: 7)
        for _ in 0..<200 {
            let bytes = encoded(randomValue(&random))
            for cut in 0..<bytes.count {
                var decoder = RESPDecoder()
                decoder.append(bytes[0..<cut])
                #expect(try decoder.next() == nil)
            }
        }
    }

    /// Garbage, truncated and mutated frames must only ever decode, wait or throw: never trap.
    @Test func arbitraryBytesNeverCrashTheDecoder() {
        var random = SeededGenerator(state: 2026)
        let alphabet = Array("+-:$*_#,(!=%~>|0123456789-\r\n\r\nabcOK".utf8)
        var outcomes = (decoded: 0, incomplete: 0, rejected: 0)
        for round in 0..<20_000 {
            var bytes: [UInt8]
            switch round % 3 {
            case 0:
                bytes = (0..<Int.random(in: 1..<64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            case 1:
                bytes = (0..<Int.random(in: 1..<64, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
            default:
                bytes = encoded(randomValue(&random))
                for _ in 0..<Int.random(in: 1...3, using: &random) where !bytes.isEmpty {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = alphabet.randomElement(using: &random)!
                }
            }
            var decoder = RESPDecoder(limits: .init(maximumDepth: 8, maximumElements: 1000, maximumBulkLength: 1 << 16))
            decoder.append(bytes)
            do {
                var progressed = false
                while let _ = try decoder.next() { progressed = true }
                if progressed { outcomes.decoded += 1 } else { outcomes.incomplete += 1 }
            } catch {
                outcomes.rejected += 1
            }
        }
        #expect(outcomes.decoded > 0 && outcomes.incomplete > 0 && outcomes.rejected > 0)
    }

    @Test func limitsRejectHostileLengthsAndNesting() {
        func rejects(_ text: String, limits: RESPDecoder.Limits = .init()) -> Bool {
            var decoder = RESPDecoder(limits: limits)
            decoder.append(Array(text.utf8))
            do { _ = try decoder.next() } catch { return true }
            return false
        }
        #expect(rejects("$99999999999\r\n"))
        #expect(rejects("*99999999999\r\n"))
        #expect(rejects("$-5\r\n"))
        #expect(rejects(String(repeating: "*1\r\n", count: 100) + ":1\r\n", limits: .init(maximumDepth: 16)))
        #expect(rejects("+" + String(repeating: "x", count: 100) + "\r\n", limits: .init(maximumLineLength: 10)))
        #expect(rejects(":12a\r\n"))
        #expect(rejects("?what\r\n"))
        #expect(rejects("+ok\nmore"))
    }

    @Test func commandsEncodeAsArraysOfBulkStrings() {
        #expect(
            RESPEncoder.encode([Array("SET".utf8), Array("k".utf8), Array("v\r\n".utf8)])
                == Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n".utf8)
        )
    }
}

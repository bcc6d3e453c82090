import Foundation
import StrataCore
import Testing

@Suite struct EncodingTests {
    @Test func quotedTextIsValidJSONThatReadsBackTheSame() throws {
        let text = "a \"quote\", a \\ backslash,\n a tab\t, a bell \u{7}, é and 😀"
        let quoted = JSONText.quoted(text)
        #expect(try JSONDecoder().decode(String.self, from: Data(quoted.utf8)) == text)
        #expect(JSONText.quoted(nil) == "null")
    }

    @Test func base64URLRoundTripsAndRefusesOtherAlphabets() {
        let bytes: [UInt8] = [0xfb, 0xff, 0x3e, 0x00, 0x7f]
        let encoded = Base64URL.encode(bytes)
        #expect(!encoded.contains("+") && !encoded.contains("/") && !encoded.contains("="))
        #expect(Base64URL.decode(encoded) == bytes)
        #expect(Base64URL.decode("+/==") == nil)
    }

    /// The byte-level coder agrees with Foundation's base64 with the URL alphabet swapped in.
    @Test func base64URLAgreesWithFoundation() {
        func reference(_ bytes: [UInt8]) -> String {
            Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        func referenceDecode(_ text: String) -> [UInt8]? {
            guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
            var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
            return Data(base64Encoded: base64).map(Array.init)
        }
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let encoded = Base64URL.encode(bytes)
            #expect(encoded == reference(bytes))
            #expect(Base64URL.decode(encoded) == bytes)
            #expect(Base64URL.decode(encoded[...]) == bytes, "a substring reads the same")
        }
        for text in ["", "A", "AB", "ABC", "ABCD", "ABCDE", "QQ", "QR", "QUI", "QUJ", "a-_9", "a b", "ab=", "é", "AAAA\u{0}"] {
            #expect(Base64URL.decode(text) == referenceDecode(text), "\(text)")
        }
    }

    @Test func secureRandomGivesTheLengthAskedAndDoesNotRepeat() {
        #expect(SecureRandom.bytes(0).isEmpty)
        #expect(SecureRandom.bytes(13).count == 13)
        let hex = SecureRandom.hex(bytes: 16)
        #expect(hex.count == 32 && hex.allSatisfy { "0123456789abcdef".contains($0) })
        let ids = Set((0..<1000).map { _ in SecureRandom.hex(bytes: 16) })
        #expect(ids.count == 1000)
        let spread = Set(SecureRandom.bytes(4096))
        #expect(spread.count > 200, "every byte value is possible (a stuck byte lane would show)")
    }
}

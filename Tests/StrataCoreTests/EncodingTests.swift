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

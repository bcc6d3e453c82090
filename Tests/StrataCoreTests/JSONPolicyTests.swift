import Foundation
import StrataCore
import Testing

/// One JSON configuration everywhere: dates as RFC 3339 text both ways, sorted keys, and no
/// encoder or decoder made anywhere else in the sources.
@Suite struct JSONPolicyTests {
    struct Stamped: Codable, Equatable {
        var at: Date
        var url: String
    }

    @Test func datesAreRFC3339TextBothWaysAndKeysSorted() throws {
        let value = Stamped(at: Date(timeIntervalSince1970: 1_767_225_600), url: "https://example.com/a")
        let text = String(decoding: try JSONEncoder.api().encode(value), as: UTF8.self)
        #expect(text == #"{"at":"2026-01-01T00:00:00Z","url":"https://example.com/a"}"#)
        #expect(try JSONDecoder.api().decode(Stamped.self, from: Data(text.utf8)) == value)
        #expect(throws: DecodingError.self) {
            try JSONDecoder.api().decode(Stamped.self, from: Data(#"{"at":789004800,"url":""}"#.utf8))
        }
        let pretty = String(decoding: try JSONEncoder.api(pretty: true).encode(value), as: UTF8.self)
        #expect(pretty.contains("\n") && pretty.contains(#""at" : "2026-01-01T00:00:00Z""#))
    }

    @Test func noSourceMakesItsOwnEncoderOrDecoder() throws {
        let files = try SourceTree.files().filter { !$0.path.hasSuffix("/JSONPolicy.swift") }
        let offenders = files.filter { $0.text.contains("JSONEncoder()") || $0.text.contains("JSONDecoder()") }.map(\.path)
        let scanned = files.count
        #expect(offenders.isEmpty, "use JSONEncoder.api() / JSONDecoder.api(): \(offenders)")
        #expect(scanned > 100, "the sources were found (\(scanned) files)")
    }
}

/// Text length as the API documents it and the database checks it.
@Suite struct TextLengthTests {
    @Test func codePointsNotGraphemesAreCounted() {
        let combined = "e\u{301}\u{302}"  // one Character, three code points
        #expect(combined.count == 1 && combined.textLength == 3)
        #expect("Zürich".textLength == 6 && "".textLength == 0)
    }
}

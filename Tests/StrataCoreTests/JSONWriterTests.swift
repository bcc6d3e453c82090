import Foundation
import Testing

@testable import StrataCore

@Suite struct JSONWriterTests {
    /// A type that covers every kind of member the writer has.
    struct Sample: Codable, JSONWritable {
        var text: String
        var optionalText: String?
        var number: Int
        var big: Int64
        var flag: Bool
        var id: UUID
        var at: Date
        var optionalAt: Date?
        var names: [String]
        var nested: [Sample]

        enum CodingKeys: String, CodingKey {
            case text, number, big, flag, id, at, names, nested
            case optionalText = "optional_text"
            case optionalAt = "optional_at"
        }

        func write(to json: inout JSONWriter) {
            json.object { json in
                json.field("at", at)
                json.field("big", big)
                json.field("flag", flag)
                json.field("id", id)
                json.field("names", names)
                json.field("nested", nested)
                json.field("number", number)
                json.field("optional_at", optionalAt)
                json.field("optional_text", optionalText)
                json.field("text", text)
            }
        }
    }

    static let awkwardStrings = [
        "", "plain", "quote \" and backslash \\ and slash / and </script>", "tab\tnew\nline\rreturn",
        String((0..<32).map { Character(Unicode.Scalar(UInt8($0))) }) + "\u{7F}",
        "中文工单 ✓ émoji 👩🏽‍🔧 e\u{301}", "\u{2028}\u{2029}\u{FEFF}",
    ]

    static let dates: [Date] = [
        Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 1_795_000_000.999), Date(timeIntervalSince1970: -1.5),
        Date(timeIntervalSince1970: -2_208_988_800), Date(timeIntervalSince1970: 951_782_400),  // 2000-02-29
        Date(timeIntervalSince1970: 253_402_300_799),  // 9999-12-31T23:59:59Z
    ]

    func sample(_ index: Int) -> Sample {
        let text = Self.awkwardStrings[index % Self.awkwardStrings.count]
        return Sample(
            text: text,
            optionalText: index.isMultiple(of: 2) ? nil : text,
            number: [0, 1, -1, 42, Int.max, Int.min][index % 6],
            big: [Int64.min, -9, 0, 10, 1_000_000, Int64.max][index % 6],
            flag: index.isMultiple(of: 3),
            id: UUID(),
            at: Self.dates[index % Self.dates.count],
            optionalAt: index.isMultiple(of: 2) ? Self.dates[(index + 1) % Self.dates.count] : nil,
            names: Array(Self.awkwardStrings.prefix(index % 4)),
            nested: index < 3 ? [sample(index + 3)] : []
        )
    }

    @Test func writesWhatTheAPIsEncoderWrites() throws {
        for index in 0..<24 {
            let value = sample(index)
            let expected = String(decoding: try JSONEncoder.api().encode(value), as: UTF8.self)
            #expect(String(decoding: value.jsonBytes, as: UTF8.self) == expected)
        }
    }

    @Test func pagesAndCursorsReadBack() throws {
        let page = Page(items: [sample(1), sample(2)], nextCursor: Cursor(values: ["1795000000000000", "a/b\"c"]).encoded)
        #expect(String(decoding: page.jsonBytes, as: UTF8.self) == String(decoding: try JSONEncoder.api().encode(page), as: UTF8.self))
        let last = Page<Sample>(items: [], nextCursor: nil)
        #expect(String(decoding: last.jsonBytes, as: UTF8.self) == #"{"items":[],"next_cursor":null}"#)
        #expect(try Cursor(decoding: try #require(page.nextCursor)).values == ["1795000000000000", "a/b\"c"])
    }

    static let doubles: [Double] = [
        0, -0.0, 1, -1, 0.1, 0.5, 2.5, 1 / 3, 100, 1e15, 1e16, 1e17, 1.5e300, -2.25e-8, 1e-5, 0.0001, 123_456_789.125,
        Double.leastNonzeroMagnitude, Double.greatestFiniteMagnitude, 9_007_199_254_740_993, 0.1 + 0.2,
    ]

    @Test func numbersAreWrittenAsTheAPIsEncoderWritesThem() throws {
        for number in Self.doubles {
            let expected = String(decoding: try JSONEncoder.api().encode([number]), as: UTF8.self)
            var json = JSONWriter()
            json.array { $0.value(number) }
            #expect(String(decoding: json.bytes, as: UTF8.self) == expected, "\(number)")
        }
        var json = JSONWriter()
        json.array { json in
            json.value(Double.nan)
            json.value(-Double.infinity)
        }
        #expect(String(decoding: json.bytes, as: UTF8.self) == "[null,null]", "what the encoder refuses is null")
    }

    @Test func freeFormValuesAndTheirKeysAreWrittenAsTheAPIsEncoderWritesThem() throws {
        let keys = ["b", "a", "B", "a10", "a2", "_", "é", "e", "Z", "ä", "a b", "\"", "👩🏽", ""]
        for index in 0..<12 {
            var members: [String: JSONValue] = [:]
            for (position, key) in keys.enumerated() where (position + index) % 3 != 0 {
                members[key] =
                    [
                        .null, .bool(position.isMultiple(of: 2)), .number(Self.doubles[(position + index) % Self.doubles.count]),
                        .string(Self.awkwardStrings[(position + index) % Self.awkwardStrings.count]),
                        .array([.number(1), .string("x"), .object(["y": .null])]), .object([:]),
                    ][(position + index) % 6]
            }
            let value = JSONValue.object(["members": .object(members), "list": .array(Array(members.values))])
            let expected = String(decoding: try JSONEncoder.api().encode(value), as: UTF8.self)
            #expect(String(decoding: value.jsonBytes, as: UTF8.self) == expected)
        }
    }
}

/// `JSONValue(parsing:)` reads with its own scanner first: it must read every document as
/// `JSONDecoder` does and decline what `JSONDecoder` refuses.
@Suite struct JSONScannerTests {
    static func decoded(_ text: String) -> JSONValue? {
        try? JSONDecoder.api().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// Documents the scanner reads itself (it must not decline them).
    static let readable = [
        "{}", "[]", "null", "true", "false", "0", "-0", "1", "-1", "0.5", "-2.25e-8", "1E3", "1e+2", "123456789.125", "1e308",
        "4.9e-324", "0.1000000000000000055511151231257827", "9007199254740993", #""""#, #""plain""#,
        #""esc \" \\ \/ \b \f \n \r \t \u00e9 \u4e2d \ud83d\udc69 \u0000""#, "\"中文 👩🏽‍🔧 e\u{301}\"",
        #" { "b" : [1, 2.5, {"c": null}] , "a": "x", "é": true, "": {} } "#, "[[[[[]]]]]", "\t[ 1 ,\n2 ]\r\n",
        #"{"nested": {"deep": [{"k": [true, false, null, -0.0, 3]}]}}"#,
    ]

    /// Every document: the readable ones, then what the decoder refuses or reads its own way,
    /// where the scanner must not differ from it.
    static let documents =
        readable + [
            "", " ", "{", "[1,]", "[1 2]", #"{"a":1,}"#, #"{"a" 1}"#, #"{a:1}"#, "01", "1.", ".5", "-", "+1", "1e", "1e+", "0x10", "NaN",
            "Infinity", "1e400", "-1e400", "1e-400", "tru", "nul", "[1]x", #""unterminated"#, "\"raw \n newline\"", #""\x""#,
            #""\u12""#, #""\ud83d""#, #""\udc69""#, #""\ud83d\u0041""#, #"{"a":1,"a":2}"#, "[" + String(repeating: "[", count: 300) + "]",
        ]

    @Test func readsAsTheDecoderReadsAndDeclinesWhatItRefuses() throws {
        for text in Self.documents {
            let scanned = JSONScanner.parse(text)
            let decoded = Self.decoded(text)
            if let scanned {
                #expect(scanned == decoded, "\(text)")
            }
            #expect((try? JSONValue(parsing: text)) == decoded, "\(text)")
        }
        for text in Self.readable {
            #expect(JSONScanner.parse(text) != nil, "the scanner reads \(text) itself")
        }
        #expect(
            JSONScanner.parse(#"{"b":[1,{"c":"d"}],"a":-1.5e3}"#)
                == .object(["a": .number(-1500), "b": .array([.number(1), .object(["c": .string("d")])])])
        )
    }

    @Test func readsWhatTheWriterWrites() throws {
        for (index, number) in JSONWriterTests.doubles.enumerated() {
            let text = JSONWriterTests.awkwardStrings[index % JSONWriterTests.awkwardStrings.count]
            let value = JSONValue.object(["n": .number(number), "s": .string(text), "a": .array([.string(text), .null, .bool(true)])])
            #expect(JSONScanner.parse(String(decoding: value.jsonBytes, as: UTF8.self)) == value)
        }
    }
}

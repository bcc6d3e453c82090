import Foundation
import StrataCore
import Testing

@Suite struct RFC3339Tests {
    @Test func validTimestampsNameTheirInstant() throws {
        #expect(RFC3339.date(from: "1970-01-01T00:00:00Z") == Date(timeIntervalSince1970: 0))
        let utc = try #require(ISO8601DateFormatter().date(from: "2026-11-23T04:30:00Z"))
        #expect(RFC3339.date(from: "2026-11-23T06:30:00.25+02:00") == utc.addingTimeInterval(0.25))
        #expect(RFC3339.date(from: "2024-02-29t12:00:00z") == Date(timeIntervalSince1970: 1_709_208_000))
        #expect(RFC3339.date(from: "1969-12-31T23:59:59-00:00") == Date(timeIntervalSince1970: -1))
        #expect(RFC3339.date(from: "0017-05-08T20:40:13-05:48") != nil)
    }

    @Test func outOfRangeFieldsAndOtherShapesAreRefused() {
        for text in [
            "2024-01-01T12:99:00Z", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:00:00",
            "2024-01-01", "2024-01-01T00:00:00+2:00", "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00.1234567890Z", " 2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00Z ", "",
        ] {
            #expect(RFC3339.date(from: text) == nil, "\(text)")
        }
    }
}

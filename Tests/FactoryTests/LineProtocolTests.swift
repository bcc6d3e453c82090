import Foundation
import Testing

@testable import Factory

@Suite struct LineProtocolTests {
    func parse(_ text: String, precision: LineProtocol.Precision = .nanoseconds) -> Result<[LineProtocol.Point], LineProtocol.ParseError> {
        LineProtocol.parse(Array(text.utf8), precision: precision, now: Date(timeIntervalSince1970: 1_000))
    }

    @Test func pointsWithEscapesEveryFieldTypeCommentsAndPrecisionsAreRead() throws {
        let text = """
            # a comment, then a blank line

            production_metrics,line_id=L1,station_id=S\\ 1 yield_rate=98.5,cycle_time=42i 1700000000000000000
            my\\,measure,tag\\=key=va\\,lue ok=t,name="say \\"hi\\"",count=7u
            production_metrics,line_id=L2 yield_rate=-1.5e2\r
            """
        let points = try parse(text).get()
        #expect(points.count == 3)
        #expect(points[0].measurement == "production_metrics" && points[0].tag("station_id") == "S 1" && points[0].line == 3)
        #expect(points[0].fields.map(\.value) == [.float(98.5), .integer(42)])
        #expect(points[0].timestamp == 1_700_000_000_000_000_000)
        #expect(points[1].measurement == "my,measure" && points[1].tag("tag=key") == "va,lue")
        #expect(points[1].fields.map(\.value) == [.boolean(true), .string(#"say "hi""#), .unsigned(7)])
        #expect(points[2].fields.map(\.value) == [.float(-150)] && points[2].timestamp == 1_000_000_000_000)
        let seconds = try parse("m f=1 1700000000", precision: .seconds).get()
        #expect(seconds[0].timestamp == 1_700_000_000_000_000_000)
        #expect(LineProtocol.Precision(parameter: "u") == .microseconds && LineProtocol.Precision(parameter: "h") == nil)
    }

    @Test func measurementsAlternateNamesEscapeMidwayAndTimestampsTakeSignsAndTrailingBlanks() throws {
        let text = """
            production_metrics,line_id=L1 yield_rate=1 +5
            production_metrics,line_id=L1 yield_rate=2 -5\t
            production_metricz,line_id=L\\\\1\\ a yield_rate=3,n=-4i 6 \t
            production_metrics,line_id=L1 yield_rate=.5,b=F 7
            """
        let points = try parse(text, precision: .seconds).get()
        #expect(points.map(\.measurement) == ["production_metrics", "production_metrics", "production_metricz", "production_metrics"])
        #expect(points.map(\.timestamp) == [5_000_000_000, -5_000_000_000, 6_000_000_000, 7_000_000_000])
        #expect(points[2].tag("line_id") == #"L\1 a"# && points[2].fields.map(\.value) == [.float(3), .integer(-4)])
        #expect(points[3].fields.map(\.value) == [.float(0.5), .boolean(false)])
        for bad in ["m f=1 5x", "m f=1 +", "m f=1 92233720368547758070", "m f=inf", "m f=-nan", "m f=1.5u"] {
            guard case .failure = parse(bad) else {
                Issue.record("\(bad) was read")
                continue
            }
        }
    }

    @Test(arguments: [
        ("m,line_id=L1 yield_rate=1\nm,line_id=L1", 2, "missing fields"),
        ("ok f=1\nm f=1 notatime", 2, "bad timestamp"),
        ("m f=\"open", 1, "unbalanced quotes"),
        ("m f=abc", 1, "invalid number"),
        ("m,t= f=1", 1, "missing tag value"),
        ("m  =1", 1, "missing field key"),
        ("m f=1 99999999999999999", 1, "time outside range"),
    ])
    func aBadLineIsNamedByItsNumber(text: String, line: Int, reason: String) {
        guard case .failure(let error) = parse(text, precision: text.contains("9999999999") ? .seconds : .nanoseconds) else {
            Issue.record("\(text) was read")
            return
        }
        #expect(error.line == line && error.reason == reason, "\(error.message)")
        #expect(error.message.hasPrefix("unable to parse '") && error.message.contains("(line \(line))"))
    }
}

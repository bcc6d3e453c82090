import Foundation
import Logging
import Testing

@testable import StrataServer

@Suite struct StrataLogHandlerTests {
    let event = LogEvent(
        level: .warning,
        message: "slow request",
        metadata: ["b": "event", "a": .array(["1", "2"])],
        source: "StrataHTTP",
        file: #fileID,
        function: #function,
        line: #line
    )

    func handler(_ format: ServerConfiguration.LogFormat) -> StrataLogHandler {
        var handler = StrataLogHandler(label: "strata", level: .info, format: format)
        handler[metadataKey: "strata.request.id"] = "r1"
        handler[metadataKey: "b"] = "handler"
        handler[metadataKey: "gone"] = "x"
        handler[metadataKey: "gone"] = nil
        return handler
    }

    @Test func aTextLineCarriesTheHandlersAndTheEventsMetadataByKey() {
        #expect(
            handler(.text).line(for: event, at: "2026-11-23T08:00:00.000Z")
                == "2026-11-23T08:00:00.000Z warning strata : a=[\"1\", \"2\"] b=event strata.request.id=r1 [StrataHTTP] slow request\n"
        )
        let bare = LogEvent(level: .info, message: "up", metadata: nil, source: "strata", file: #fileID, function: #function, line: #line)
        #expect(StrataLogHandler(label: "x", level: .info, format: .text).line(for: bare, at: "T") == "T info x : [strata] up\n")
    }

    @Test func aJSONLineIsOneObjectWithTheSameFields() throws {
        let line = try #require(handler(.json).line(for: event, at: "2026-11-23T08:00:00.000Z"))
        #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["ts"] as? String == "2026-11-23T08:00:00.000Z" && object["level"] as? String == "warning")
        #expect(object["msg"] as? String == "slow request" && object["label"] as? String == "strata")
        #expect(object["b"] as? String == "event" && object["a"] as? [String] == ["1", "2"] && object["strata.request.id"] as? String == "r1")
        #expect(object["gone"] == nil)
    }
}

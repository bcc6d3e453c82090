import Logging
import Testing

@testable import StrataServer

@Suite struct TextLogHandlerTests {
    @Test func aLineCarriesTheHandlersAndTheEventsMetadataByKey() {
        var handler = TextLogHandler(label: "strata", level: .info)
        handler[metadataKey: "strata.request.id"] = "r1"
        handler[metadataKey: "b"] = "handler"
        handler[metadataKey: "gone"] = "x"
        handler[metadataKey: "gone"] = nil
        let event = LogEvent(
            level: .warning,
            message: "slow request",
            metadata: ["b": "event", "a": .array(["1", "2"])],
            source: "StrataHTTP",
            file: #fileID,
            function: #function,
            line: #line
        )
        #expect(
            handler.line(for: event, at: "2026-11-23T08:00:00.000Z")
                == "2026-11-23T08:00:00.000Z warning strata : a=[\"1\", \"2\"] b=event strata.request.id=r1 [StrataHTTP] slow request\n"
        )
        let bare = LogEvent(level: .info, message: "up", metadata: nil, source: "strata", file: #fileID, function: #function, line: #line)
        #expect(TextLogHandler(label: "x", level: .info).line(for: bare, at: "T") == "T info x : [strata] up\n")
    }
}

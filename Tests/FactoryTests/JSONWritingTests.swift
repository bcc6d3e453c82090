import Foundation
import StrataCore
import Testing

@testable import Factory

/// The hand-written JSON of the app's responses is, byte for byte, what `JSONEncoder` writes
/// of the same values: with every optional member present and absent, awkward text, and
/// numbers of every shape.
@Suite struct JSONWritingTests {
    static let texts = ["", "plain", "quote \" backslash \\ slash / ", "tab\tline\n", "中文 👩🏽‍🔧 e\u{301}"]
    static let numbers: [Double] = [0, 1, 0.1, 2.5, 1e16, -3.25e-8, 97.125]
    static let dates = ["2026-01-31T08:00:00Z", "1970-01-01T00:00:00Z", "2026-12-07T23:59:59.750Z"]

    /// A value decoded from `members`, with the optional members left out on even variants.
    func value<Value: Decodable>(
        _ type: Value.Type,
        _ variant: Int,
        _ members: [String: JSONValue],
        optional: [String: JSONValue]
    ) throws
        -> Value
    {
        var object = members
        if !variant.isMultiple(of: 2) { object.merge(optional) { $1 } }
        return try JSONDecoder.api().decode(Value.self, from: Data(JSONValue.object(object).text.utf8))
    }

    func expectSame(_ value: some JSONWritable, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let encoded = String(decoding: try JSONEncoder.api().encode(value), as: UTF8.self)
        #expect(String(decoding: value.jsonBytes, as: UTF8.self) == encoded, sourceLocation: sourceLocation)
    }

    func text(_ variant: Int) -> JSONValue { .string(Self.texts[variant % Self.texts.count]) }
    func number(_ variant: Int) -> JSONValue { .number(Self.numbers[variant % Self.numbers.count]) }
    func date(_ variant: Int) -> JSONValue { .string(Self.dates[variant % Self.dates.count]) }
    func id() -> JSONValue { .string(UUID().uuidString) }

    func anomaly(_ variant: Int) throws -> Anomaly {
        try value(
            Anomaly.self,
            variant,
            [
                "anomaly_id": id(), "factory_id": text(variant), "line_id": text(variant + 1), "defect_type": text(variant + 2),
                "severity": "high", "detected_at": date(variant), "status": "diagnosing", "reopen_count": .number(Double(variant)),
                "version": .number(Double(variant * 1000)), "created_by": text(variant + 3), "created_at": date(variant + 1),
                "updated_at": date(variant + 2),
            ],
            optional: [
                "station_id": text(variant), "description": text(variant + 4), "assigned_to": text(variant), "root_cause": text(variant + 1),
                "closed_at": date(variant),
            ]
        )
    }

    func solution(_ variant: Int) throws -> Solution {
        try value(
            Solution.self,
            variant,
            [
                "solution_id": id(), "anomaly_id": id(), "factory_id": text(variant), "line_id": "L1", "solution_type": "process_change",
                "solution_name": text(variant + 2), "recommended": .bool(variant.isMultiple(of: 3)), "adopted": false, "version": 3,
                "created_by": "u", "created_at": date(variant), "updated_at": date(variant + 1),
            ],
            optional: [
                "description": text(variant), "estimated_downtime_hours": number(variant), "success_rate": number(variant + 1),
                "expected_loss": number(variant + 2), "roi": number(variant + 3),
                "simulation_result": ["z": 1, "a": ["b": .array([.null, .number(0.5), text(variant)])], "é": .bool(true)],
            ]
        )
    }

    func workOrder(_ variant: Int) throws -> WorkOrder {
        try value(
            WorkOrder.self,
            variant,
            [
                "order_id": id(), "solution_id": id(), "anomaly_id": id(), "factory_id": "F1", "line_id": text(variant),
                "order_type": "repair", "status": "completed", "result_verified": .bool(!variant.isMultiple(of: 3)), "version": 1,
                "created_by": "u", "created_at": date(variant), "updated_at": date(variant),
            ],
            optional: [
                "responsible_user_id": text(variant), "instructions": text(variant + 1), "estimated_duration_hours": number(variant),
                "actual_duration_hours": number(variant + 1), "execution_result": "partial", "actual_loss": number(variant + 2),
                "notes": text(variant + 3), "started_at": date(variant), "completed_at": date(variant + 1),
            ]
        )
    }

    func node(_ variant: Int) throws -> GraphNode {
        try value(
            GraphNode.self,
            variant,
            [
                "node_id": text(variant), "kind": "cause", "label": text(variant + 1), "properties": ["b": 2, "a": text(variant)],
                "version": 1, "created_by": "u", "created_at": date(variant), "updated_at": date(variant + 1),
            ],
            optional: ["confidence": number(variant), "anomaly_id": id(), "factory_id": "F1", "line_id": text(variant)]
        )
    }

    @Test func anomaliesTheirDetailsAndPagesAreWrittenAsTheyEncode() throws {
        for variant in 0..<10 {
            try expectSame(try anomaly(variant))
            try expectSame(Page(items: [try anomaly(variant), try anomaly(variant + 1)], nextCursor: variant.isMultiple(of: 2) ? nil : "abc"))
            try expectSame(
                AnomalyService.Detail(
                    anomaly: try anomaly(variant),
                    solutions: try (0..<(variant % 3)).map { try solution(variant + $0) },
                    workOrders: try (0..<(variant % 2 + 1)).map { try workOrder(variant + $0) }
                )
            )
        }
    }

    @Test func overviewsAreWrittenAsTheyEncode() throws {
        for variant in 0..<8 {
            let summary: (Int) throws -> JSONValue = { shift in
                variant.isMultiple(of: 2)
                    ? ["count": 0, "mean": .null, "min": .null, "max": .null]
                    : [
                        "count": .number(Double(variant + shift)), "mean": self.number(variant), "min": self.number(variant + 1),
                        "max": self.number(variant + 2),
                    ]
            }
            let overview = try value(
                LineOverview.self,
                variant,
                [
                    "line_id": text(variant), "factory_id": text(variant + 2), "line_name": text(variant + 1), "status": "running",
                    "open_anomalies": variant.isMultiple(of: 3) ? [:] : ["high": 2, "critical": 1, "low": .number(Double(variant))],
                    "work_orders": ["pending": 1, "in_progress": .number(Double(variant))], "version": .number(Double(variant)),
                    "generated_at": date(variant),
                    "last_hour": ["from": date(variant + 1), "yield_rate": try summary(0), "cycle_time": try summary(1)],
                ],
                optional: [:]
            )
            try expectSame(overview)
            // The cache reads a cached overview's factory without decoding it, or says it cannot.
            let escapes = overview.factoryID.contains { $0 == "\"" || $0 == "\\" || $0.asciiValue.map { $0 < 0x20 } == true }
            #expect(OverviewCache.leadingFactoryID(overview.jsonBytes) == (escapes ? nil : overview.factoryID))
        }
    }

    @Test func graphWalksAreWrittenAsTheyEncode() throws {
        for variant in 0..<8 {
            let cause = RankedCause(
                node: try node(variant),
                depth: variant % 3 + 1,
                pathConfidence: Self.numbers[variant % Self.numbers.count],
                path: ["p1", Self.texts[variant % Self.texts.count]],
                evidence: try (0..<(variant % 3)).map { try node(variant + $0) }
            )
            try expectSame(Page.complete([cause, cause]))
            try expectSame(ExplainedProblem(node: try node(variant), depth: variant, path: ["c1", "p2"]))
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByDictionaryLiteral
{
    init(stringLiteral value: String) { self = .string(value) }
    init(integerLiteral value: Int) { self = .number(Double(value)) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(Dictionary(uniqueKeysWithValues: elements)) }
}

@Test func anOverviewNotWrittenByTheCacheHasNoLeadingFactory() {
    #expect(OverviewCache.leadingFactoryID(Array(#"{"generated_at":"x","factory_id":"F1"}"#.utf8)) == nil)
    #expect(OverviewCache.leadingFactoryID(Array(#"{"factory_id":"F1"#.utf8)) == nil)
    #expect(OverviewCache.leadingFactoryID(Array(#"{"factory_id":"F1","line_id":"L1"}"#.utf8)) == "F1")
}

import Foundation
import StrataCore
import Testing

@Suite struct CronExpressionTests {
    func date(_ text: String) -> Date { try! Date(text, strategy: .iso8601) }

    @Test(arguments: [
        ("30 2 * * *", "2026-11-22T10:15:00Z", "2026-11-22T02:30:00Z"),
        ("30 2 * * *", "2026-11-22T02:29:59Z", "2026-11-21T02:30:00Z"),
        ("*/15 * * * *", "2026-11-22T10:44:10Z", "2026-11-22T10:30:00Z"),
        ("0 9-17/4 * * 1-5", "2026-11-22T12:00:00Z", "2026-11-20T17:00:00Z"),  // Sunday → Friday 17:00
        ("0 0 1 * *", "2026-11-22T00:00:00Z", "2026-11-01T00:00:00Z"),
        ("0 0 29 2 *", "2026-11-22T00:00:00Z", "2024-02-29T00:00:00Z"),
        ("0 12 13 * 5", "2026-11-22T00:00:00Z", "2026-11-20T12:00:00Z"),  // the 13th or a Friday
        ("5 4 * * 7", "2026-11-22T05:00:00Z", "2026-11-22T04:05:00Z"),  // 7 is Sunday
    ])
    func latestMatches(expression: String, now: String, expected: String) throws {
        #expect(try CronExpression(expression).latestMatch(atOrBefore: date(now)) == date(expected))
    }

    @Test(arguments: ["* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "*/0 * * * *", "5-1 * * * *", "a * * * *", "1,,2 * * * *"])
    func malformedExpressionsAreRefused(expression: String) {
        #expect(throws: StrataError.self) { try CronExpression(expression) }
    }
}

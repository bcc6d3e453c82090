public import Foundation

/// A five-field cron expression — minute, hour, day of month, month, day of week — evaluated
/// in UTC. Fields take `*`, numbers, ranges (`1-5`), lists (`1,15`) and steps (`*/10`, `8-18/2`);
/// day of week is 0–6 from Sunday (7 is Sunday too). As in Vixie cron, when both day fields are
/// restricted a day matches if either matches.
///
/// ```swift
/// let nightly = try CronExpression("30 2 * * *")        // 02:30 every day
/// let slot = nightly.latestMatch(atOrBefore: Date())     // the slot a scheduler fires for
/// ```
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool
    public let description: String

    /// Parses an expression.
    /// - Throws: `invalid_value` naming the field that is wrong.
    public init(_ text: String) throws {
        let fields = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard fields.count == 5 else {
            throw StrataError(.invalidValue, "A cron expression has five fields (minute hour day month weekday); '\(text)' has \(fields.count).")
        }
        minutes = try Self.parse(fields[0], name: "minute", range: 0...59)
        hours = try Self.parse(fields[1], name: "hour", range: 0...23)
        daysOfMonth = try Self.parse(fields[2], name: "day of month", range: 1...31)
        months = try Self.parse(fields[3], name: "month", range: 1...12)
        daysOfWeek = Set(try Self.parse(fields[4], name: "day of week", range: 0...7).map { $0 % 7 })
        dayOfMonthRestricted = fields[2] != "*"
        dayOfWeekRestricted = fields[4] != "*"
        description = fields.joined(separator: " ")
    }

    static func parse(_ field: String, name: String, range: ClosedRange<Int>) throws -> Set<Int> {
        func fail() -> StrataError {
            StrataError(
                .invalidValue,
                "The cron \(name) field '\(field)' is not valid (allowed \(range.lowerBound)-\(range.upperBound), *, lists, ranges, steps)."
            )
        }
        var values: Set<Int> = []
        for part in field.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard (1...2).contains(pieces.count) else { throw fail() }
            let step = pieces.count == 2 ? Int(pieces[1]) : 1
            guard let step, step >= 1 else { throw fail() }
            var lower: Int
            var upper: Int
            if pieces[0] == "*" {
                (lower, upper) = (range.lowerBound, range.upperBound)
            } else if let dash = pieces[0].firstIndex(of: "-") {
                guard let from = Int(pieces[0][..<dash]), let to = Int(pieces[0][pieces[0].index(after: dash)...]), from <= to else { throw fail() }
                (lower, upper) = (from, to)
            } else {
                guard let value = Int(pieces[0]) else { throw fail() }
                (lower, upper) = (value, pieces.count == 2 ? range.upperBound : value)
            }
            guard range.contains(lower), range.contains(upper) else { throw fail() }
            values.formUnion(stride(from: lower, through: upper, by: step))
        }
        guard !values.isEmpty else { throw fail() }
        return values
    }

    static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    /// Whether the minute that contains `date` matches.
    public func matches(_ date: Date) -> Bool {
        let parts = Self.calendar.dateComponents([.minute, .hour, .day, .month, .weekday], from: date)
        guard let minute = parts.minute, let hour = parts.hour, let day = parts.day, let month = parts.month, let weekday = parts.weekday
        else { return false }
        return minutes.contains(minute) && hours.contains(hour) && months.contains(month) && dayMatches(day: day, weekday: weekday - 1)
    }

    func dayMatches(day: Int, weekday: Int) -> Bool {
        switch (dayOfMonthRestricted, dayOfWeekRestricted) {
        case (true, true): daysOfMonth.contains(day) || daysOfWeek.contains(weekday)
        case (true, false): daysOfMonth.contains(day)
        case (false, true): daysOfWeek.contains(weekday)
        case (false, false): true
        }
    }

    /// The latest matching minute at or before `date`, searching back at most `horizon`
    /// (default about four years, enough for `29 2`-style expressions); `nil` when none.
    public func latestMatch(atOrBefore date: Date, horizon: TimeInterval = 4 * 366 * 86_400) -> Date? {
        let calendar = Self.calendar
        guard var candidate = calendar.dateInterval(of: .minute, for: date)?.start else { return nil }
        let limit = date.addingTimeInterval(-horizon)
        while candidate >= limit {
            let parts = calendar.dateComponents([.minute, .hour, .day, .month, .weekday], from: candidate)
            guard let minute = parts.minute, let hour = parts.hour, let day = parts.day, let month = parts.month, let weekday = parts.weekday
            else { return nil }
            if !months.contains(month) {
                // To the last minute of the previous month.
                candidate = calendar.dateInterval(of: .month, for: candidate)!.start.addingTimeInterval(-60)
            } else if !dayMatches(day: day, weekday: weekday - 1) {
                candidate = calendar.dateInterval(of: .day, for: candidate)!.start.addingTimeInterval(-60)
            } else if !hours.contains(hour) {
                candidate = calendar.dateInterval(of: .hour, for: candidate)!.start.addingTimeInterval(-60)
            } else if !minutes.contains(minute) {
                candidate = candidate.addingTimeInterval(-60)
            } else {
                return candidate
            }
        }
        return nil
    }
}

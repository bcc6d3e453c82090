import Foundation
public import StrataCore

/// Work-order codes: given by the client, or generated as `WO-<yymmdd>-<number>` (three digits
/// at least, UTC date).
enum WorkOrderCode {
    /// Letters, digits and `_.-`, starting with a letter or digit, at most 64.
    static func isValid(_ code: String) -> Bool {
        guard let first = code.unicodeScalars.first, code.utf8.count <= 64, first.isASCIIAlphanumeric else { return false }
        return code.unicodeScalars.allSatisfy { $0.isASCIIAlphanumeric || $0 == "_" || $0 == "." || $0 == "-" }
    }

    static func generated(on date: Date, number: Int) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        let day = String(format: "%02d%02d%02d", (parts.year ?? 0) % 100, parts.month ?? 0, parts.day ?? 0)
        return "WO-\(day)-\(String(format: "%03d", number))"
    }

    static func taken(_ code: String) -> StrataError {
        StrataError(.orderCodeTaken, "Another work order has the code '\(code)'.", details: ["field": "code"])
    }
}

extension Unicode.Scalar {
    var isASCIIAlphanumeric: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self) || ("0"..."9").contains(self)
    }
}

extension StrataError.Code {
    /// Another order has this code (409).
    public static let orderCodeTaken = Self("workorders.code_taken", kind: .conflict)
}

/// JSON written by hand where a value is embedded in a larger document (batch rows, event
/// data lines): one escaping rule for the whole platform.
public enum JSONText {
    /// `text` as a JSON string literal, quotes included; `null` for `nil`.
    public static func quoted(_ text: String?) -> String {
        guard let text else { return "null" }
        var result = "\""
        result.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}

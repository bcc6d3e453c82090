import Foundation

/// Removes secrets from request bodies before they are stored (audit log) or logged.
///
/// A field is secret when its name, lower-cased without `_` and `-`, contains `password`,
/// `passwd`, `secret`, `token`, `authorization`, `credential`, `apikey`, `privatekey` or
/// `accesskey`, or is `key` or ends in `key` (`api_key`, `licenseKey`). Its value — whatever
/// it is, object or array included — becomes `"[REDACTED]"`, at any depth.
///
/// ```swift
/// SecretRedaction.redactedJSON(#"{"name":"ann","password":"hunter2"}"#)
/// // {"name":"ann","password":"[REDACTED]"}
/// ```
public enum SecretRedaction {
    /// What a secret value is replaced with.
    public static let placeholder = "[REDACTED]"

    static let secretWords = ["password", "passwd", "secret", "token", "authorization", "credential", "apikey", "privatekey", "accesskey"]
    private static let secretWordBytes = secretWords.map { Array($0.utf8) }

    /// Whether a field of this name holds a secret.
    public static func isSecret(fieldName: String) -> Bool {
        // Every field of every audited body comes here: ASCII names (nearly all) are checked on
        // their bytes; others take Unicode's lower-casing, which can turn a non-ASCII letter
        // into an ASCII one (the Kelvin sign into `k`).
        guard fieldName.utf8.allSatisfy({ $0 < 0x80 }) else {
            let normalized = fieldName.lowercased().filter { $0 != "_" && $0 != "-" }
            return isSecret(normalized: Array(normalized.utf8))
        }
        var normalized: [UInt8] = []
        normalized.reserveCapacity(fieldName.utf8.count)
        for byte in fieldName.utf8 where byte != UInt8(ascii: "_") && byte != UInt8(ascii: "-") {
            normalized.append(byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte)
        }
        return isSecret(normalized: normalized)
    }

    /// The rule on a lower-cased name without `_` and `-`.
    private static func isSecret(normalized name: [UInt8]) -> Bool {
        if name.count >= 3 && name.suffix(3).elementsEqual("key".utf8) { return true }
        return secretWordBytes.contains { word in
            word.count <= name.count && (0...(name.count - word.count)).contains { start in name[start..<(start + word.count)].elementsEqual(word) }
        }
    }

    /// The JSON text with every secret field's value replaced; `nil` when the text is not JSON.
    /// Text without any secret field comes back as it was (checked by one pass over its bytes,
    /// the common case); text with one is parsed, redacted and written again with sorted keys.
    public static func redactedJSON(_ text: some Collection<UInt8>) -> String? {
        let bytes = Array(text)
        switch JSONKeyScan.scan(bytes) {
        case .invalid: return nil
        case .noSecrets: return String(decoding: bytes, as: UTF8.self)
        case .needsParsing: return parsedAndRedacted(bytes)
        }
    }

    static func parsedAndRedacted(_ text: [UInt8]) -> String? {
        guard let value = try? JSONSerialization.jsonObject(with: Data(text), options: [.fragmentsAllowed]) else { return nil }
        let redacted = redact(value)
        guard let data = try? JSONSerialization.data(withJSONObject: redacted, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
        else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// The JSON text with every secret field's value replaced; `nil` when it is not JSON.
    public static func redactedJSON(_ text: String) -> String? {
        redactedJSON(Array(text.utf8))
    }

    static func redact(_ value: Any) -> Any {
        if let object = value as? [String: Any] {
            var result: [String: Any] = [:]
            for (key, field) in object {
                result[key] = isSecret(fieldName: key) ? placeholder : redact(field)
            }
            return result
        }
        if let array = value as? [Any] { return array.map(redact) }
        return value
    }
}

/// One pass over JSON text that checks it is valid JSON (RFC 8259) and whether any object key is
/// a secret's name, without building anything.
enum JSONKeyScan {
    enum Verdict { case invalid, noSecrets, needsParsing }

    /// Deeper nesting than this is left to the full parser.
    static let maximumDepth = 512

    static func scan(_ bytes: [UInt8]) -> Verdict {
        var scanner = Scanner(bytes: bytes)
        do {
            scanner.skipSpace()
            try scanner.value(depth: 0)
            scanner.skipSpace()
            guard scanner.index == bytes.count else { return .invalid }
            return scanner.needsParsing ? .needsParsing : .noSecrets
        } catch {
            return error == .tooDeep ? .needsParsing : .invalid
        }
    }

    enum Failure: Error { case invalid, tooDeep }

    struct Scanner {
        let bytes: [UInt8]
        var index = 0
        /// A secret key, or a string escape the fast path does not judge, was seen.
        var needsParsing = false

        init(bytes: [UInt8]) { self.bytes = bytes }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipSpace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func expect(_ byte: UInt8) throws(Failure) {
            guard current == byte else { throw .invalid }
            index += 1
        }

        mutating func value(depth: Int) throws(Failure) {
            guard depth < JSONKeyScan.maximumDepth else { throw .tooDeep }
            switch current {
            case 0x7B: try object(depth: depth)  // {
            case 0x5B: try array(depth: depth)  // [
            case 0x22: _ = try string()
            case 0x74: try literal("true")
            case 0x66: try literal("false")
            case 0x6E: try literal("null")
            default: try number()
            }
        }

        mutating func object(depth: Int) throws(Failure) {
            index += 1
            skipSpace()
            if current == 0x7D {
                index += 1
                return
            }
            while true {
                skipSpace()
                guard current == 0x22 else { throw .invalid }
                let key = try string()
                if let key, SecretRedaction.isSecret(fieldName: key) { needsParsing = true }
                skipSpace()
                try expect(0x3A)  // :
                skipSpace()
                try value(depth: depth + 1)
                skipSpace()
                if current == 0x2C {
                    index += 1
                    continue
                }
                try expect(0x7D)
                return
            }
        }

        mutating func array(depth: Int) throws(Failure) {
            index += 1
            skipSpace()
            if current == 0x5D {
                index += 1
                return
            }
            while true {
                skipSpace()
                try value(depth: depth + 1)
                skipSpace()
                if current == 0x2C {
                    index += 1
                    continue
                }
                try expect(0x5D)
                return
            }
        }

        /// Reads a string; returns its text when it has no escapes (else marks the text for
        /// parsing and returns nil).
        mutating func string() throws(Failure) -> String? {
            index += 1
            let start = index
            var escaped = false
            while let byte = current {
                if byte == 0x22 {
                    defer { index += 1 }
                    return escaped ? nil : String(decoding: bytes[start..<index], as: UTF8.self)
                }
                if byte < 0x20 { throw .invalid }
                if byte == 0x5C {
                    // Escapes (\n, \u00e9 …) are judged by the parser, which decodes them.
                    escaped = true
                    needsParsing = true
                    index += 1
                    guard current != nil else { throw .invalid }
                }
                index += 1
            }
            throw .invalid
        }

        mutating func literal(_ word: StaticString) throws(Failure) {
            let expected = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
            guard index + expected.count <= bytes.count, bytes[index..<(index + expected.count)].elementsEqual(expected) else { throw .invalid }
            index += expected.count
        }

        /// Validates a number; exponents and very long numbers are left to the parser (it
        /// refuses what PostgreSQL's jsonb could not hold).
        mutating func number() throws(Failure) {
            let start = index
            defer { if index - start > 100 { needsParsing = true } }
            func digits() -> Int {
                let start = index
                while let byte = current, byte >= 0x30 && byte <= 0x39 { index += 1 }
                return index - start
            }
            if current == 0x2D { index += 1 }
            if current == 0x30 {
                index += 1
            } else {
                guard digits() > 0 else { throw .invalid }
            }
            if current == 0x2E {
                index += 1
                guard digits() > 0 else { throw .invalid }
            }
            if current == 0x65 || current == 0x45 {
                needsParsing = true
                index += 1
                if current == 0x2B || current == 0x2D { index += 1 }
                guard digits() > 0 else { throw .invalid }
            }
        }
    }
}

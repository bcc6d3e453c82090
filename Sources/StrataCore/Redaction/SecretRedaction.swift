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

    /// Whether a field of this name holds a secret.
    public static func isSecret(fieldName: String) -> Bool {
        let normalized = fieldName.lowercased().filter { $0 != "_" && $0 != "-" }
        if normalized.hasSuffix("key") { return true }
        return secretWords.contains { normalized.contains($0) }
    }

    /// The JSON text with every secret field's value replaced, keys sorted; `nil` when the
    /// text is not JSON.
    public static func redactedJSON(_ text: some Collection<UInt8>) -> String? {
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

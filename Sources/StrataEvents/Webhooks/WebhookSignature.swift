import Crypto
import Foundation

/// Signatures per the Standard Webhooks convention (standardwebhooks.com): the signed content is
/// `{webhook-id}.{webhook-timestamp}.{body}`, the signature HMAC-SHA256 of it, sent as
/// `webhook-signature: v1,<base64>`. A secret of the form `whsec_<base64>` is used as the bytes
/// it encodes (the convention's format); any other secret as its UTF-8 bytes.
///
/// A receiver verifies with the same function and compares in constant time:
///
/// ```swift
/// let expected = WebhookSignature.sign(id: id, timestamp: timestamp, body: body, secret: secret)
/// guard WebhookSignature.matches(header: request.headers["webhook-signature"], expected: expected) else { … }
/// ```
public enum WebhookSignature {
    /// `v1,<base64 HMAC-SHA256>`.
    public static func sign(id: String, timestamp: Int64, body: [UInt8], secret: String) -> String {
        var content = Array("\(id).\(timestamp).".utf8)
        content += body
        let code = HMAC<SHA256>.authenticationCode(for: content, using: key(from: secret))
        return "v1," + Data(code).base64EncodedString()
    }

    /// Whether any signature of a `webhook-signature` header (space-separated) is `expected`,
    /// compared in constant time.
    public static func matches(header: String?, expected: String) -> Bool {
        guard let header else { return false }
        let wanted = Array(expected.utf8)
        var found = false
        for candidate in header.split(separator: " ") {
            let bytes = Array(candidate.utf8)
            guard bytes.count == wanted.count else { continue }
            var difference: UInt8 = 0
            for (a, b) in zip(bytes, wanted) { difference |= a ^ b }
            if difference == 0 { found = true }
        }
        return found
    }

    static func key(from secret: String) -> SymmetricKey {
        if secret.hasPrefix("whsec_"), let bytes = Data(base64Encoded: String(secret.dropFirst(6))), !bytes.isEmpty {
            return SymmetricKey(data: bytes)
        }
        return SymmetricKey(data: Array(secret.utf8))
    }
}

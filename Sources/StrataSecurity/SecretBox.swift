import Crypto
import Foundation
import StrataCore

/// Seals secrets kept at rest (webhook signing secrets): AES-256-GCM under a key derived from the
/// server's `STRATA_SECRET_KEY` (or the one generated in `$STRATA_HOME/secret-key`). A sealed
/// secret is `v1.` and base64 of nonce, ciphertext and tag; it is useless without the key, so
/// a database dump does not give the secrets away.
///
/// ```swift
/// let sealed = try secrets.seal("whsec_…")     // store this
/// let secret = try secrets.open(sealed)       // only where it is used
/// ```
public struct SecretBox: Sendable {
    private let key: SymmetricKey

    /// - Parameter material: The configured secret (at least 32 bytes); the key is derived from
    ///   it with HKDF-SHA256.
    /// - Throws: `invalid_configuration` when the material is shorter than 32 bytes.
    public init(material: [UInt8]) throws {
        guard material.count >= 32 else {
            throw StrataError(
                .invalidConfiguration,
                "STRATA_SECRET_KEY must be at least 32 bytes.",
                details: ["variable": "STRATA_SECRET_KEY"]
            )
        }
        self.init(checkedMaterial: material)
    }

    private init(checkedMaterial material: [UInt8]) {
        key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: material),
            info: Array("strata secret box v1".utf8),
            outputByteCount: 32
        )
    }

    /// A box with a random key, for tests and throw-away servers.
    public static func ephemeral() -> SecretBox {
        SecretBox(checkedMaterial: SecureRandom.bytes(48))
    }

    /// Seals a secret.
    public func seal(_ secret: String) throws -> String {
        let box = try AES.GCM.seal(Array(secret.utf8), using: key)
        guard let combined = box.combined else { throw StrataError(.internalError, "The secret could not be sealed.") }
        return "v1." + combined.base64EncodedString()
    }

    /// Opens a sealed secret.
    /// - Throws: `internal_error` when it was sealed under another key or altered.
    public func open(_ sealed: String) throws -> String {
        guard sealed.hasPrefix("v1."), let combined = Data(base64Encoded: String(sealed.dropFirst(3))) else {
            throw StrataError(.internalError, "A sealed secret is malformed.")
        }
        do {
            let plain = try AES.GCM.open(try AES.GCM.SealedBox(combined: combined), using: key)
            return String(decoding: plain, as: UTF8.self)
        } catch {
            throw StrataError(.internalError, "A sealed secret does not open with this server's STRATA_SECRET_KEY.")
        }
    }
}

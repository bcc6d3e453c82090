import Crypto
public import Foundation
import StrataCore

/// An API key as stored: everything but the key itself, which exists only in the caller's hands
/// (the table keeps its SHA-256).
///
/// A key reads `sk_<prefix>_<secret>`: `prefix` (8 characters) is public and finds the row;
/// `secret` (32 characters) carries 190 bits of randomness. Both are base-62.
public struct APIKey: Sendable, Equatable, Codable {
    public var id: UUID
    public var name: String
    public var prefix: String
    /// Permission strings (`read`, `write`, `admin`, `workorders.write` …).
    public var permissions: [String]
    /// Scopes as lists of allowed values (`{"factory_ids": ["F1"]}`); empty means unscoped.
    public var scopes: [String: [String]]
    public var rateLimitPerMinute: Int
    public var active: Bool
    public var expiresAt: Date?
    public var createdAt: Date
    public var revokedAt: Date?
    public var lastUsedAt: Date?
    /// SHA-256 of the whole key.
    var keyHash: [UInt8]

    enum CodingKeys: String, CodingKey {
        case id, name, prefix, permissions, scopes, active
        case rateLimitPerMinute = "rate_limit_per_minute"
        case expiresAt = "expires_at"
        case createdAt = "created_at"
        case revokedAt = "revoked_at"
        case lastUsedAt = "last_used_at"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(UUID.self, forKey: .id)
        name = try container.decode(String.self, forKey: .name)
        prefix = try container.decode(String.self, forKey: .prefix)
        permissions = try container.decode([String].self, forKey: .permissions)
        scopes = try container.decode([String: [String]].self, forKey: .scopes)
        rateLimitPerMinute = try container.decode(Int.self, forKey: .rateLimitPerMinute)
        active = try container.decode(Bool.self, forKey: .active)
        expiresAt = try container.decodeIfPresent(Date.self, forKey: .expiresAt)
        createdAt = try container.decode(Date.self, forKey: .createdAt)
        revokedAt = try container.decodeIfPresent(Date.self, forKey: .revokedAt)
        lastUsedAt = try container.decodeIfPresent(Date.self, forKey: .lastUsedAt)
        keyHash = []
    }

    init(
        id: UUID,
        name: String,
        prefix: String,
        permissions: [String],
        scopes: [String: [String]],
        rateLimitPerMinute: Int,
        active: Bool,
        expiresAt: Date?,
        createdAt: Date,
        revokedAt: Date?,
        lastUsedAt: Date?,
        keyHash: [UInt8]
    ) {
        self.id = id
        self.name = name
        self.prefix = prefix
        self.permissions = permissions
        self.scopes = scopes
        self.rateLimitPerMinute = rateLimitPerMinute
        self.active = active
        self.expiresAt = expiresAt
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.lastUsedAt = lastUsedAt
        self.keyHash = keyHash
    }

    /// Whether the key may be used at `now`: active, not revoked, not expired.
    public func isUsable(at now: Date = Date()) -> Bool {
        active && revokedAt == nil && (expiresAt.map { now < $0 } ?? true)
    }

    /// Whether `key` is this key: its SHA-256 equals the stored one (compared in constant time).
    public func matches(_ key: String) -> Bool {
        let digest = Array(SHA256.hash(data: Array(key.utf8)))
        guard digest.count == keyHash.count else { return false }
        var difference: UInt8 = 0
        for index in digest.indices { difference |= digest[index] ^ keyHash[index] }
        return difference == 0
    }

    // MARK: Key text

    static let alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

    /// A new key's text and its prefix.
    static func generate() -> (key: String, prefix: String) {
        let prefix = SecureRandom.string(8, from: alphabet)
        return ("sk_\(prefix)_\(SecureRandom.string(32, from: alphabet))", prefix)
    }

    /// The prefix of a key's text, when it has the shape of one of ours.
    public static func prefix(of key: String) -> String? {
        // sk_ + 8 + _ + 32 = 44 bytes, all base-62 but for the two separators.
        let bytes = Array(key.utf8)
        guard bytes.count == 44, bytes[0] == UInt8(ascii: "s"), bytes[1] == UInt8(ascii: "k"), bytes[2] == UInt8(ascii: "_"),
            bytes[11] == UInt8(ascii: "_")
        else { return nil }
        for index in 3..<44 where index != 11 {
            let byte = bytes[index]
            guard (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) else { return nil }
        }
        return String(decoding: bytes[3..<11], as: UTF8.self)
    }

    static func hash(_ key: String) -> [UInt8] { Array(SHA256.hash(data: Array(key.utf8))) }
}

public import Foundation
public import StrataCore

/// The installation's licence: a tier with its seat and OCR-credit limits, and a lifetime.
///
/// Rules: activation and renewal consume a single-use activation code; a renewal extends from
/// the later of now and the current expiry; suspension needs a licence that is not inactive;
/// resumption works only from suspended and ends in expired when the expiry has passed; a licence
/// past its expiry reads as expired.
public struct License: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        case inactive, active, suspended, expired
    }

    public var status: Status
    public var tier: LicenseTier?
    public var activatedAt: Date?
    public var expiresAt: Date?
    public var suspendedAt: Date?
    public var suspensionReason: String?
    public var seats: Int?
    public var ocrCredits: Int?
    public var lastActionAt: Date?
    public var lastActionBy: String?
    public var version: Int64

    public init(
        status: Status = .inactive,
        tier: LicenseTier? = nil,
        activatedAt: Date? = nil,
        expiresAt: Date? = nil,
        suspendedAt: Date? = nil,
        suspensionReason: String? = nil,
        seats: Int? = nil,
        ocrCredits: Int? = nil,
        lastActionAt: Date? = nil,
        lastActionBy: String? = nil,
        version: Int64 = 1
    ) {
        self.status = status
        self.tier = tier
        self.activatedAt = activatedAt
        self.expiresAt = expiresAt
        self.suspendedAt = suspendedAt
        self.suspensionReason = suspensionReason
        self.seats = seats
        self.ocrCredits = ocrCredits
        self.lastActionAt = lastActionAt
        self.lastActionBy = lastActionBy
        self.version = version
    }

    /// The licence as of `now`: an active or suspended licence past its expiry is expired.
    public func asOf(_ now: Date) -> License {
        var license = self
        if let expiresAt, expiresAt <= now, status == .active { license.status = .expired }
        return license
    }

    /// Whole days left (0 once expired), `nil` without an expiry.
    public func remainingDays(at now: Date) -> Int? {
        expiresAt.map { max(0, Int((($0.timeIntervalSince(now)) / 86_400).rounded(.up))) }
    }

    enum CodingKeys: String, CodingKey {
        case status, tier, seats, version
        case activatedAt = "activated_at"
        case expiresAt = "expires_at"
        case suspendedAt = "suspended_at"
        case suspensionReason = "suspension_reason"
        case ocrCredits = "ocr_credits"
        case lastActionAt = "last_action_at"
        case lastActionBy = "last_action_by"
    }
}

/// A licence tier and its limits.
public enum LicenseTier: String, Sendable, Codable, CaseIterable {
    case starter, professional, enterprise

    /// The tier's plan.
    public var plan: LicensePlan {
        switch self {
        case .starter: LicensePlan(tier: self, name: "云启版", maxSeats: 15, ocrCredits: 2000, pricePerQuarter: 899, pricePerYear: 2999)
        case .professional: LicensePlan(tier: self, name: "智控版", maxSeats: 40, ocrCredits: 6000, pricePerQuarter: 1899, pricePerYear: 5999)
        case .enterprise: LicensePlan(tier: self, name: "旗舰版", maxSeats: 120, ocrCredits: 18000, pricePerQuarter: 3299, pricePerYear: 10999)
        }
    }
}

/// What a tier gives and costs (prices in CNY).
public struct LicensePlan: Sendable, Codable, Equatable {
    public var tier: LicenseTier
    public var name: String
    public var maxSeats: Int
    public var ocrCredits: Int
    public var pricePerQuarter: Int
    public var pricePerYear: Int

    enum CodingKeys: String, CodingKey {
        case tier, name
        case maxSeats = "max_seats"
        case ocrCredits = "ocr_credits"
        case pricePerQuarter = "price_per_quarter"
        case pricePerYear = "price_per_year"
    }
}

/// A single-use activation code as stored: its public lookup part and the bcrypt hash of the
/// whole code.
public struct ActivationCode: Sendable, Equatable {
    public enum Purpose: String, Sendable, Codable, CaseIterable {
        case activation, renewal, upgrade
    }

    public var id: UUID
    /// The code's second group (`WOL-<lookup>-<secret>`), stored in clear to find the row.
    public var lookup: String
    public var codeHash: String
    public var tier: LicenseTier
    public var durationDays: Int
    public var purpose: Purpose
    public var usedAt: Date?

    public init(id: UUID, lookup: String, codeHash: String, tier: LicenseTier, durationDays: Int, purpose: Purpose, usedAt: Date? = nil) {
        self.id = id
        self.lookup = lookup
        self.codeHash = codeHash
        self.tier = tier
        self.durationDays = durationDays
        self.purpose = purpose
        self.usedAt = usedAt
    }
}

extension StrataError.Code {
    /// The licence is not in a state that allows the action (409).
    public static let licenseStateRefused = Self("workorders.license_state_refused", kind: .conflict)
    /// The activation code is unknown or already used (422).
    public static let activationCodeInvalid = Self("workorders.activation_code_invalid", kind: .invalidInput)
}

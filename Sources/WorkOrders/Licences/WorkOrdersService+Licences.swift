import Foundation
import StrataCore
public import StrataPostgres
import StrataSecurity

extension WorkOrdersService {
    /// The licence as the API shows it: its state as of now, its plan and the days left.
    public struct LicenseStatus: Sendable, Encodable {
        public var license: License
        public var plan: LicensePlan?
        public var remainingDays: Int?

        public func encode(to encoder: any Encoder) throws {
            try license.encode(to: encoder)
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(plan?.name, forKey: .planName)
            try container.encode(remainingDays, forKey: .remainingDays)
        }

        enum Keys: String, CodingKey {
            case planName = "plan_name"
            case remainingDays = "remaining_days"
        }
    }

    /// A new activation code, shown this once.
    public struct IssuedActivationCode: Sendable, Encodable {
        public var code: String
        public var tier: LicenseTier
        public var durationDays: Int
        public var purpose: ActivationCode.Purpose

        enum CodingKeys: String, CodingKey {
            case code, tier, purpose
            case durationDays = "duration_days"
        }
    }

    /// The plans on offer.
    public static var plans: [LicensePlan] { LicenseTier.allCases.map(\.plan) }

    /// The licence now.
    public func licenseStatus() async throws -> LicenseStatus {
        status(of: try await repository.license())
    }

    func status(of license: License) -> LicenseStatus {
        let now = now()
        let current = license.asOf(now)
        return LicenseStatus(license: current, plan: current.tier?.plan, remainingDays: current.remainingDays(at: now))
    }

    /// Makes a single-use activation code (`WOL-<lookup>-<secret>`); only its bcrypt hash is kept.
    /// - Throws: `validation_failed` for a duration other than 90, 180 or 365 days.
    public func issueActivationCode(
        tier: LicenseTier,
        durationDays: Int,
        purpose: ActivationCode.Purpose,
        by caller: Caller
    ) async throws -> IssuedActivationCode {
        guard [90, 180, 365].contains(durationDays) else {
            throw StrataError.validation([.init(field: "duration_days", reason: "must be 90, 180 or 365")])
        }
        let alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        let lookup = SecureRandom.string(8, from: alphabet)
        let code = "WOL-\(lookup)-\(SecureRandom.string(16, from: alphabet))"
        let hash = try await PasswordHasher.standard.hash(code)
        try await repository.write { unit in
            try await unit.insertActivationCode(
                ActivationCode(id: UUID(), lookup: lookup, codeHash: hash, tier: tier, durationDays: durationDays, purpose: purpose)
            )
            try await unit.record(
                Change(
                    app: Self.app,
                    action: "license.code_issued",
                    resourceType: "license_activation_code",
                    resourceID: lookup,
                    status: 201,
                    details: [
                        "tier": .string(tier.rawValue), "duration_days": .number(Double(durationDays)), "purpose": .string(purpose.rawValue),
                    ]
                ),
                by: caller
            )
        }
        return IssuedActivationCode(code: code, tier: tier, durationDays: durationDays, purpose: purpose)
    }

    /// Activates the licence with a code: the code's tier, from now for its duration.
    /// - Throws: `workorders.activation_code_invalid` (unknown or used code).
    public func activate(code: String, by caller: Caller) async throws -> LicenseStatus {
        try await applyCode(code, action: "license.activated", by: caller) { license, activation, now in
            license.activatedAt = now
            license.expiresAt = now.addingTimeInterval(Double(activation.durationDays) * 86_400)
        }
    }

    /// Renews the licence with a code: its duration is added to the later of now and the
    /// current expiry, and its tier applies.
    /// - Throws: `workorders.activation_code_invalid`.
    public func renew(code: String, by caller: Caller) async throws -> LicenseStatus {
        try await applyCode(code, action: "license.renewed", by: caller) { license, activation, now in
            if license.activatedAt == nil { license.activatedAt = now }
            let base = max(now, license.expiresAt ?? now)
            license.expiresAt = base.addingTimeInterval(Double(activation.durationDays) * 86_400)
        }
    }

    private func applyCode(
        _ code: String,
        action: String,
        by caller: Caller,
        change: @escaping @Sendable (inout License, ActivationCode, Date) -> Void
    ) async throws -> LicenseStatus {
        let normalized = code.trimmingCharacters(in: .whitespacesAndNewlines).uppercased()
        let parts = normalized.split(separator: "-", omittingEmptySubsequences: false)
        let lookup = parts.count == 3 && parts[0] == "WOL" && parts[1].count == 8 ? String(parts[1]) : ""
        let invalid = StrataError(.activationCodeInvalid, "The activation code is not valid or has been used.", details: ["field": "code"])
        guard normalized.textLength <= 64 else { throw invalid }
        let now = now()
        // bcrypt outside the transaction (no lock is held for it), and the same work whether or
        // not the code exists; the transaction then takes the code only if it is still unused.
        let candidate = lookup.isEmpty ? nil : try await repository.activationCode(lookup: lookup)
        guard try await PasswordHasher.standard.verify(normalized, against: candidate?.codeHash), let candidate else { throw invalid }
        let stored = try await repository.write { unit in
            guard let activation = try await unit.lockActivationCode(lookup: lookup), activation.id == candidate.id, activation.usedAt == nil
            else { throw invalid }
            var license = try await unit.lockLicense()
            change(&license, activation, now)
            let plan = activation.tier.plan
            license.status = .active
            license.tier = activation.tier
            license.seats = plan.maxSeats
            license.ocrCredits = plan.ocrCredits
            license.suspendedAt = nil
            license.suspensionReason = nil
            license.lastActionAt = now
            license.lastActionBy = String(caller.name.prefix(64))
            try await unit.markActivationCodeUsed(activation.id, by: String(caller.name.prefix(64)))
            let stored = try await unit.saveLicense(license)
            try await unit.record(licenseChange(stored, action, details: ["code": lookup, "purpose": activation.purpose.rawValue]), by: caller)
            return stored
        }
        return status(of: stored)
    }

    /// Suspends the licence (not while inactive).
    /// - Throws: `workorders.license_state_refused` (409).
    public func suspend(reason: String?, by caller: Caller) async throws -> LicenseStatus {
        if let reason, reason.textLength > 500 { throw StrataError.validation([.init(field: "reason", reason: "must be at most 500 characters")]) }
        let now = now()
        let stored = try await repository.write { unit in
            var license = try await unit.lockLicense()
            guard license.status != .inactive else {
                throw StrataError(
                    .licenseStateRefused,
                    "There is no licence to suspend: it was never activated.",
                    details: ["status": license.status.rawValue]
                )
            }
            license.status = .suspended
            license.suspendedAt = now
            license.suspensionReason = reason
            license.lastActionAt = now
            license.lastActionBy = String(caller.name.prefix(64))
            let stored = try await unit.saveLicense(license)
            try await unit.record(licenseChange(stored, "license.suspended", details: [:]), by: caller)
            return stored
        }
        return status(of: stored)
    }

    /// Resumes a suspended licence; one past its expiry becomes expired instead (kept), and the
    /// caller gets `workorders.license_state_refused` telling it to renew.
    /// - Throws: `workorders.license_state_refused` (409).
    public func resume(by caller: Caller) async throws -> LicenseStatus {
        let now = now()
        let stored = try await repository.write { unit in
            var license = try await unit.lockLicense()
            guard license.status == .suspended else {
                throw StrataError(
                    .licenseStateRefused,
                    "Only a suspended licence can be resumed; it is \(license.status.rawValue).",
                    details: ["status": license.status.rawValue]
                )
            }
            let expired = license.expiresAt.map { $0 <= now } ?? true
            license.status = expired ? .expired : .active
            license.suspendedAt = nil
            license.suspensionReason = expired ? license.suspensionReason : nil
            license.lastActionAt = now
            license.lastActionBy = String(caller.name.prefix(64))
            let stored = try await unit.saveLicense(license)
            try await unit.record(licenseChange(stored, expired ? "license.expired" : "license.resumed", details: [:]), by: caller)
            return stored
        }
        guard stored.status == .active else {
            throw StrataError(
                .licenseStateRefused,
                "The licence expired while suspended; renew it with a renewal code.",
                details: ["status": stored.status.rawValue]
            )
        }
        return status(of: stored)
    }

    /// The change of the licence: its event (`kind`, the licence as payload) and its audit entry.
    private func licenseChange(_ license: License, _ kind: String, details: [String: String]) throws -> Change {
        Change(
            app: Self.app,
            action: kind,
            resourceType: "license",
            resourceID: "1",
            status: 200,
            details: details.mapValues(JSONValue.string),
            events: [try OutboxEvent(app: Self.app, aggregateType: "license", aggregateID: "1", kind: kind, payload: license)]
        )
    }
}

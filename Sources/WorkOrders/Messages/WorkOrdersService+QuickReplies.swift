import Foundation
import StrataCore
public import StrataPostgres

extension WorkOrdersService {
    /// A user's quick replies, oldest first.
    public func quickReplies(of ownerID: String) async throws -> [QuickReply] {
        try Self.checkOwner(ownerID)
        return try await repository.quickReplies(of: ownerID)
    }

    /// Adds phrases to a user's quick replies (trimmed; phrases the user has are skipped).
    /// - Returns: The user's quick replies afterwards.
    public func addQuickReplies(_ phrases: [String], to ownerID: String, role: String = "member", by caller: Caller) async throws -> [QuickReply] {
        try Self.checkOwner(ownerID)
        let cleaned = try Self.phrases(phrases)
        guard role.range(of: "^[a-z_]{1,32}$", options: .regularExpression) != nil else {
            throw StrataError.validation([.init(field: "role", reason: "must be 1 to 32 lowercase letters or _")])
        }
        try await repository.write { unit in
            var added: [String] = []
            for phrase in cleaned where try await unit.addQuickReply(ownerID: ownerID, role: role, content: phrase) != nil { added.append(phrase) }
            try await unit.record(quickRepliesChange("quick_replies.added", owner: ownerID, phrases: added), by: caller)
        }
        return try await repository.quickReplies(of: ownerID)
    }

    /// Removes phrases from a user's quick replies (phrases the user does not have are skipped).
    /// - Returns: The user's quick replies afterwards.
    public func removeQuickReplies(_ phrases: [String], from ownerID: String, by caller: Caller) async throws -> [QuickReply] {
        try Self.checkOwner(ownerID)
        let cleaned = try Self.phrases(phrases)
        try await repository.write { unit in
            var removed: [String] = []
            for phrase in cleaned where try await unit.removeQuickReply(ownerID: ownerID, content: phrase) { removed.append(phrase) }
            try await unit.record(quickRepliesChange("quick_replies.removed", owner: ownerID, phrases: removed), by: caller)
        }
        return try await repository.quickReplies(of: ownerID)
    }

    /// The change of a user's quick replies: its audit entry, and its event when a phrase changed.
    private func quickRepliesChange(_ kind: String, owner: String, phrases: [String]) -> Change {
        let details = JSONValue.object(["owner_id": .string(owner), "phrases": .array(phrases.map(JSONValue.string))])
        let events =
            phrases.isEmpty
            ? []
            : [
                OutboxEvent(
                    app: Self.app,
                    aggregateType: "quick_replies",
                    aggregateID: String(owner.prefix(200)),
                    kind: kind,
                    payloadJSON: details.text
                )
            ]
        return Change(
            app: Self.app,
            action: kind,
            resourceType: "quick_replies",
            resourceID: owner,
            status: 200,
            detailsJSON: details.text,
            events: events
        )
    }

    static func checkOwner(_ ownerID: String) throws {
        guard (1...64).contains(ownerID.textLength) else {
            throw StrataError.validation([.init(field: "user_id", reason: "must be 1 to 64 characters")])
        }
    }

    static func phrases(_ phrases: [String]) throws -> [String] {
        var seen = Set<String>()
        let cleaned = phrases.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { seen.insert($0).inserted }
        var errors: [StrataError.FieldError] = []
        if !(1...50).contains(cleaned.count) { errors.append(.init(field: "phrases", reason: "must hold 1 to 50 phrases")) }
        if cleaned.contains(where: { !(1...500).contains($0.textLength) }) {
            errors.append(.init(field: "phrases", reason: "each phrase must be 1 to 500 characters"))
        }
        guard errors.isEmpty else { throw StrataError.validation(errors) }
        return cleaned
    }
}

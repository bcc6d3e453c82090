import Foundation
import HTTPTypes
public import Hummingbird
public import StrataCore

/// Entity tags from row versions, and the `If-Match` rules of updates and deletes.
///
/// A resource's ETag is `"<version>"` (strong), where the version is the row's own counter,
/// bumped by every write. Single-resource GETs send it; updates and deletes check `If-Match`
/// against the current version **in the same statement** that writes
/// (`UPDATE … WHERE id = $1 AND version = $2`), so two writers with the same ETag cannot both
/// succeed: the loser gets 412.
///
/// ```swift
/// let expected = try ETag.requiredVersion(request)          // 428 when missing
/// guard let updated = try await repository.update(id, ifVersion: expected, …) else {
///     throw StrataError.staleVersion()                        // 412
/// }
/// response.headers[.eTag] = ETag.value(version: updated.version)
/// ```
public enum ETag {
    /// The ETag of a version.
    public static func value(version: Int64) -> String { "\"\(version)\"" }

    /// The version an `If-Match` header names, `nil` when there is none.
    /// - Throws: `precondition_failed` for `If-Match` values that are not one of our ETags
    ///   (including `*`, which cannot guard against lost updates).
    public static func version(in request: Request) throws -> Int64? {
        guard let header = request.headers[.ifMatch] else { return nil }
        var text = Substring(header.trimmingCharacters(in: .whitespaces))
        if text.hasPrefix("W/") { text = text.dropFirst(2) }
        guard text.count >= 3, text.first == "\"", text.last == "\"", let version = Int64(text.dropFirst().dropLast()) else {
            throw StrataError(.preconditionFailed, "If-Match must be the ETag this API returned for the resource.")
        }
        return version
    }

    /// The version `If-Match` names.
    /// - Throws: `precondition_required` (428) when the header is missing.
    public static func requiredVersion(_ request: Request) throws -> Int64 {
        guard let version = try version(in: request) else {
            throw StrataError(.preconditionRequired, "This change needs If-Match with the resource's current ETag (from a GET).")
        }
        return version
    }

}

public import Foundation

/// An atomic structure tasks run on: an uploaded file (kept 180 days) or a built-in one.
/// The bytes are in object storage under ``objectKey``; the row holds what was parsed.
public struct Structure: Sendable, Encodable, Equatable {
    public var id: UUID
    public var name: String
    public var format: StructureFormat
    /// SHA-256 of the file: the same file uploaded twice is the same structure.
    public var checksum: String
    public var fileSize: Int64
    public var atomCount: Int?
    public var formula: String?
    public var spaceGroup: String?
    public var isBuiltin: Bool
    /// When an uploaded structure is removed (`nil` for built-ins).
    public var expiresAt: Date?
    public var createdAt: Date
    /// Where the bytes are (not shown by the API).
    var objectKey: String

    enum CodingKeys: String, CodingKey {
        case id, name, format, checksum, formula
        case fileSize = "file_size"
        case atomCount = "n_atoms"
        case spaceGroup = "space_group"
        case isBuiltin = "is_builtin"
        case expiresAt = "expires_at"
        case createdAt = "created_at"
    }
}

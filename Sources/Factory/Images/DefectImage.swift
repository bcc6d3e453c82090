public import Foundation
import PostgresNIO
import StrataCore

/// An image of a defect, linked to its anomaly (`factory.defect_images`).
public struct DefectImage: Sendable, Codable, Equatable {
    public var imageID: UUID
    public var anomalyID: UUID
    public var factoryID: String
    public var lineID: String
    public var fileName: String
    /// The media type read from the image's own first bytes.
    public var contentType: String
    public var size: Int64
    /// The SHA-256 of the bytes, in hex.
    public var sha256: String
    public var uploadedBy: String
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case size, sha256
        case imageID = "image_id"
        case anomalyID = "anomaly_id"
        case factoryID = "factory_id"
        case lineID = "line_id"
        case fileName = "file_name"
        case contentType = "content_type"
        case uploadedBy = "uploaded_by"
        case createdAt = "created_at"
    }

    static let columns = "image_id, anomaly_id, factory_id, line_id, file_name, content_type, size, sha256, uploaded_by, created_at"

    init(row: PostgresRow) throws {
        let columns = row.makeRandomAccess()
        imageID = try columns["image_id"].decode(UUID.self)
        anomalyID = try columns["anomaly_id"].decode(UUID.self)
        factoryID = try columns["factory_id"].decode(String.self)
        lineID = try columns["line_id"].decode(String.self)
        fileName = try columns["file_name"].decode(String.self)
        contentType = try columns["content_type"].decode(String.self)
        size = try columns["size"].decode(Int64.self)
        sha256 = try columns["sha256"].decode(String.self)
        uploadedBy = try columns["uploaded_by"].decode(String.self)
        createdAt = try columns["created_at"].decode(Date.self)
    }

    /// The media type of an image by its magic bytes — JPEG, PNG, WebP, BMP or TIFF — whatever
    /// the client said; `nil` for anything else.
    public static func mediaType(of data: Data) -> String? {
        let bytes = [UInt8](data.prefix(16))
        func starts(_ prefix: [UInt8], at offset: Int = 0) -> Bool {
            bytes.count >= offset + prefix.count && Array(bytes[offset..<offset + prefix.count]) == prefix
        }
        if starts([0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        if starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8) { return "image/webp" }
        if starts(Array("BM".utf8)) && bytes.count >= 14 { return "image/bmp" }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return "image/tiff" }
        return nil
    }
}

import Crypto
public import Foundation
public import Logging
import PostgresNIO
import StrataCore
public import StrataObjects
public import StrataPostgres

/// Defect images: stored in the platform's object store (file system by default, S3 by URL),
/// recorded on their anomaly with the media type read from their bytes and their SHA-256,
/// downloaded byte for byte; scoped like their anomaly.
public struct ImageService: Sendable {
    let pool: PostgresPool
    let objects: any ObjectStore
    let anomalies: AnomalyStore
    let logger: Logger
    /// The largest image accepted, in bytes (`FACTORY_IMAGE_MAX_SIZE`).
    public let maxSize: Int

    public init(pool: PostgresPool, objects: any ObjectStore, maxSize: Int = 10 << 20, logger: Logger = Logger(label: "strata.factory")) {
        self.pool = pool
        self.objects = objects
        self.anomalies = AnomalyStore(logger: logger)
        self.maxSize = maxSize
        self.logger = logger
    }

    /// Stores an image of an anomaly.
    /// - Throws: `factory.not_an_image` (422) for bytes that are not a JPEG, PNG, WebP, BMP or
    ///   TIFF image, `payload_too_large` past ``maxSize``, `validation_failed` for the name,
    ///   `not_found` for an anomaly out of scope. Nothing is kept of a refused upload.
    public func upload(_ data: Data, fileName: String, to anomalyID: UUID, by caller: Caller) async throws -> DefectImage {
        guard data.count <= maxSize else {
            throw StrataError(.payloadTooLarge, "An image is at most \(maxSize) bytes.", details: ["limit": "\(maxSize)"])
        }
        if !(1...255).contains(fileName.textLength) || fileName.contains("/") || fileName.unicodeScalars.contains(where: { $0.value < 0x20 }) {
            throw StrataError.validation([.init(field: "file_name", reason: "must be 1 to 255 characters, without / or control characters")])
        }
        guard let mediaType = DefectImage.mediaType(of: data) else {
            throw StrataError(.notAnImage, "This is not a JPEG, PNG, WebP, BMP or TIFF image (read from its bytes, not its Content-Type).")
        }
        let anomalies = anomalies
        // 404 before the bytes are stored (the insert checks again).
        let anomaly = try await FactoryScope.security.read(on: pool, for: caller.scopes, logger: logger) { connection in
            try await anomalies.anomaly(anomalyID, on: connection)
        }
        guard let anomaly else { throw AnomalyService.notFound() }
        let imageID = UUID.v7()
        let key = try ObjectKey("factory/defect-images/\(AnomalyService.key(anomalyID))/\(AnomalyService.key(imageID))")
        let digest = Hex.encode(SHA256.hash(data: data))
        _ = try await objects.put(data, at: key, contentType: mediaType)
        do {
            let logger = logger
            return try await FactoryScope.security.transaction(on: pool, for: caller, logger: logger) { connection in
                let rows = try await connection.run(
                    """
                    INSERT INTO factory.defect_images (image_id, anomaly_id, factory_id, line_id, object_key, file_name, content_type, size, sha256,
                                                       uploaded_by)
                    VALUES (\(imageID), \(anomaly.anomalyID), \(anomaly.factoryID), \(anomaly.lineID), \(key.rawValue), \(fileName), \(mediaType),
                            \(Int64(data.count)), \(digest), \(caller.actor))
                    RETURNING \(unescaped: DefectImage.columns)
                    """,
                    logger: logger
                ).collect()
                let image = try DefectImage(row: rows[0])
                let change = Change(
                    app: "factory",
                    action: "upload",
                    resourceType: "defect_image",
                    resourceID: AnomalyService.key(imageID),
                    status: 201,
                    events: [
                        try OutboxEvent(
                            app: "factory",
                            aggregateType: "anomaly",
                            aggregateID: AnomalyService.key(anomalyID),
                            kind: "anomaly.image_uploaded",
                            payload: image
                        )
                    ]
                )
                return (image, change)
            }
        } catch {
            try? await objects.delete(key)
            throw error
        }
    }

    /// An anomaly's images, oldest first.
    public func images(of anomalyID: UUID, scopes: [String: [String]]) async throws -> [DefectImage] {
        let (anomalies, logger) = (anomalies, logger)
        return try await FactoryScope.security.read(on: pool, for: scopes, logger: logger) { connection in
            guard try await anomalies.anomaly(anomalyID, on: connection) != nil else { throw AnomalyService.notFound() }
            return try await connection.run(
                "SELECT \(unescaped: DefectImage.columns) FROM factory.defect_images WHERE anomaly_id = \(anomalyID) ORDER BY created_at, image_id",
                logger: logger
            ).collect().map(DefectImage.init(row:))
        }
    }

    /// One image and its bytes.
    /// - Throws: `not_found`; `object_missing` (503) when the store lost the bytes.
    public func download(_ imageID: UUID, of anomalyID: UUID, scopes: [String: [String]]) async throws -> (DefectImage, Data) {
        let logger = logger
        let found = try await FactoryScope.security.read(on: pool, for: scopes, logger: logger) { connection in
            try await connection.run(
                """
                SELECT \(unescaped: DefectImage.columns), object_key FROM factory.defect_images
                WHERE image_id = \(imageID) AND anomaly_id = \(anomalyID)
                """,
                logger: logger
            ).collect().first.map { row in (try DefectImage(row: row), try row.makeRandomAccess()["object_key"].decode(String.self)) }
        }
        guard let (image, key) = found else { throw StrataError(.notFound, "This anomaly has no image with this id.") }
        guard let data = try await objects.get(try ObjectKey(key)) else {
            throw StrataError(.objectMissing, "The image's bytes are missing from the object store.")
        }
        return (image, data)
    }
}

extension StrataError.Code {
    /// 422: an upload that is not a JPEG, PNG, WebP, BMP or TIFF image.
    static let notAnImage = StrataError.Code("factory.not_an_image", kind: .invalidInput)
    /// 503: a recorded object's bytes are not in the object store.
    static let objectMissing = StrataError.Code("factory.object_missing", kind: .unavailable)
}

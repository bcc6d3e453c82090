import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PostgresNIO
import StrataCore
import StrataHTTP
import StrataObjects
import StrataPostgres
import StrataTestSupport
import Testing

@testable import Factory

@Suite struct ImageTests {
    typealias H = FactoryHarness

    /// A small PNG: the signature, then arbitrary bytes (what is checked is the signature).
    static let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + (0..<3000).map { UInt8($0 % 251) }
    static let webp: [UInt8] = Array("RIFF".utf8) + [0x10, 0, 0, 0] + Array("WEBPVP8 ".utf8) + [UInt8](repeating: 7, count: 64)

    @Test(arguments: [
        ([0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10] as [UInt8], "image/jpeg"), (png, "image/png"), (webp, "image/webp"),
        (Array("BM".utf8) + [UInt8](repeating: 0, count: 20), "image/bmp"), ([0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0], "image/tiff"),
        ([0x4D, 0x4D, 0x00, 0x2A, 0, 0, 0, 8], "image/tiff"),
    ])
    func imagesAreKnownByTheirMagicBytes(bytes: [UInt8], type: String) {
        #expect(DefectImage.mediaType(of: Data(bytes)) == type)
    }

    @Test func otherBytesAreNoImage() {
        for bytes in [Array("<svg xmlns=".utf8), Array("%PDF-1.7".utf8), Array("GIF89a".utf8), [0xFF, 0xD8], Array("RIFF1234WAVE".utf8)] {
            #expect(DefectImage.mediaType(of: Data(bytes)) == nil)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func anImageIsStoredInS3ByteIdenticalAndBadUploadsLeaveNothing() async throws {
        try await withTestS3Store { store in
            try await withTestModule(FactoryModule(configuration: .init(imageMaxSize: 4096))) { database in
                ModuleEnvironment(pool: database.pool, tokens: try TestModule.tokens(), objects: store, logger: TestPostgres.logger)
            } _: { database, client, _ in
                let key = try await APIKeyStore(pool: database.pool).create(.init(name: "plant-admin", permissions: ["factory.*"])).secret
                let headers: HTTPFields = [.xAPIKey: key, .contentType: "application/json"]
                try await H.seedPlant(client, headers)
                let anomaly = try await H.expect(client, .post, "/api/factory/anomalies", headers, H.anomaly(), .created)
                let id = try #require(anomaly["anomaly_id"]?.stringValue)
                let upload: HTTPFields = [.xAPIKey: key, .contentType: "image/jpeg"]  // the client's type is not believed

                let created = try await client.execute(
                    uri: "/api/factory/anomalies/\(id)/images?file_name=seam-3.png",
                    method: .post,
                    headers: upload,
                    body: ByteBuffer(bytes: Self.png)
                ) {
                    ($0.status, H.json($0))
                }
                #expect(created.0 == .created && created.1["content_type"] == .string("image/png"))
                #expect(created.1["sha256"]?.stringValue?.count == 64 && created.1["size"] == .number(Double(Self.png.count)))
                let imageID = try #require(created.1["image_id"]?.stringValue)
                let downloaded = try await client.execute(
                    uri: "/api/factory/anomalies/\(id)/images/\(imageID)",
                    method: .get,
                    headers: [.xAPIKey: key]
                ) {
                    ($0.status, Array($0.body.readableBytesView), $0.headers[.contentType])
                }
                #expect(downloaded.0 == .ok && downloaded.1 == Self.png && downloaded.2 == "image/png")
                #expect(try await store.listAll(prefix: "factory/defect-images/").count == 1)

                // Not an image, too large, an unknown anomaly: a clear 4xx and nothing stored.
                let text = try await client.execute(
                    uri: "/api/factory/anomalies/\(id)/images?file_name=x.png",
                    method: .post,
                    headers: upload,
                    body: ByteBuffer(string: "not an image")
                ) {
                    ($0.status, H.json($0))
                }
                #expect(text.0 == .unprocessableContent && text.1["code"] == .string("factory.not_an_image"))
                let large = try await client.execute(
                    uri: "/api/factory/anomalies/\(id)/images?file_name=x.png",
                    method: .post,
                    headers: upload,
                    body: ByteBuffer(bytes: Self.png + Self.png)
                ) {
                    $0.status
                }
                #expect(large == .contentTooLarge)
                let unknown = try await client.execute(
                    uri: "/api/factory/anomalies/\(UUID())/images?file_name=x.png",
                    method: .post,
                    headers: upload,
                    body: ByteBuffer(bytes: Self.png)
                ) {
                    $0.status
                }
                #expect(unknown == .notFound)
                #expect(try await store.listAll(prefix: "factory/defect-images/").count == 1)
                #expect(try await H.count(database, "SELECT count(*) FROM factory.defect_images") == 1)

                let list = try await H.expect(client, .get, "/api/factory/anomalies/\(id)/images", headers)
                #expect(list["items"]?.arrayValue?.count == 1)
                let scoped = try await APIKeyStore(pool: database.pool).create(
                    .init(name: "l2", permissions: ["factory.read"], scopes: [FactoryScope.lines: ["L2"]])
                ).secret
                try await H.expect(client, .get, "/api/factory/anomalies/\(id)/images/\(imageID)", [.xAPIKey: scoped], nil, .notFound)
            }
        }
    }
}

import Foundation
public import Hummingbird

extension Response {
    /// How a downloaded file is offered: saved (`attachment`) or shown (`inline`).
    public enum FileDisposition: String, Sendable {
        case attachment, inline
    }

    /// A stored file's bytes with its media type and name. The name in `Content-Disposition`
    /// keeps printable ASCII without quotes or backslashes, so no file name can break the header.
    public static func file(
        _ bytes: some Sequence<UInt8>,
        contentType: String,
        fileName: String,
        disposition: FileDisposition = .attachment,
        headers extra: HTTPFields = [:]
    ) -> Response {
        var headers = extra
        headers[.contentType] = contentType.isEmpty ? "application/octet-stream" : contentType
        let safeName = String(fileName.unicodeScalars.filter { $0.isASCII && $0.value >= 0x20 && $0 != "\"" && $0 != "\\" })
        headers[.contentDisposition] = "\(disposition.rawValue); filename=\"\(safeName)\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

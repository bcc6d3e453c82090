import Foundation

/// Builds `multipart/form-data` request bodies the way browsers and `curl -F` do, for upload
/// route tests.
public struct MultipartBody: Sendable {
    public let boundary: String
    public private(set) var bytes: [UInt8] = []

    public init(boundary: String = "----StrataTestBoundary\(UInt32.random(in: 0...UInt32.max))") {
        self.boundary = boundary
    }

    /// The request's `Content-Type`.
    public var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    /// Adds a text field.
    public mutating func field(_ name: String, _ value: String) {
        bytes += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
    }

    /// Adds a file part.
    public mutating func file(_ name: String = "file", fileName: String, contentType: String? = nil, data: some Collection<UInt8>) {
        var head = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(fileName)\"\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        bytes += Array((head + "\r\n").utf8) + Array(data) + Array("\r\n".utf8)
    }

    /// The finished body (with its closing delimiter).
    public var body: [UInt8] { bytes + Array("--\(boundary)--\r\n".utf8) }
}

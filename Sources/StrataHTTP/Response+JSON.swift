import Foundation
public import Hummingbird
public import StrataCore

extension Response {
    /// A JSON response (`application/json`, keys sorted for stable output).
    public static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        json(bytes: try JSONEncoder.api().encode(value), status: status)
    }

    /// A JSON response from a value that writes its own JSON (the same bytes as the API's
    /// `JSONEncoder`, written faster).
    public static func json(_ value: some JSONWritable, status: HTTPResponse.Status = .ok) -> Response {
        json(bytes: value.jsonBytes, status: status)
    }

    /// A JSON response from JSON already encoded.
    public static func json(bytes: some Sequence<UInt8>, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}

public import Foundation
import Hummingbird
import NIOCore
import StrataHTTP

/// The OpenAPI 3.1 document of the whole API (`Resources/openapi.json`), served at
/// `GET /openapi.json`. A test compares its operations with the routes the server registers,
/// so a route cannot be added, removed or renamed without the document following.
public enum OpenAPIDocument {
    /// The document's bytes.
    public static let data: Data = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"), let data = try? Data(contentsOf: url) else {
            preconditionFailure("openapi.json is missing from the StrataServer resources")
        }
        return data
    }()

    /// Every operation of the document, as `METHOD /path`.
    public static var operations: Set<String> {
        guard let document = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let paths = document["paths"] as? [String: [String: Any]]
        else { return [] }
        var operations: Set<String> = []
        for (path, item) in paths {
            for method in item.keys where ["get", "put", "post", "delete", "patch", "head", "options"].contains(method) {
                operations.insert("\(method.uppercased()) \(path)")
            }
        }
        return operations
    }

    static func addRoute(to router: any RouterMethods<StrataRequestContext>) {
        router.get("/openapi.json") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
            )
        }
    }
}

public import Foundation
import Hummingbird
import NIOCore
import StrataCore
public import StrataHTTP

/// The OpenAPI 3.1 document of the whole API, served at `GET /openapi.json`: the platform's
/// part (`Resources/openapi.json`: health, metrics, keys, events, the shared responses and
/// security schemes) merged with every module's ``StrataModule/openAPIFragment()``. A test
/// compares its operations with the routes the server registers, so a route cannot be added,
/// removed or renamed without the document following.
public enum OpenAPIDocument {
    /// The platform's part.
    static let platform: Data = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"), let data = try? Data(contentsOf: url) else {
            preconditionFailure("openapi.json is missing from the StrataServer resources")
        }
        return data
    }()

    /// The document of a server made of `modules`.
    /// - Throws: `internal_error` when a part is not a JSON object, or two parts define the
    ///   same path, component or tag.
    public static func data(of modules: [any StrataModule]) throws -> Data {
        guard var document = try JSONSerialization.jsonObject(with: platform) as? [String: Any] else {
            throw StrataError(.internalError, "The platform's openapi.json is not a JSON object")
        }
        for module in modules {
            guard let data = try module.openAPIFragment() else { continue }
            guard let fragment = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw StrataError(.internalError, "The \(module.name) module's openapi.json is not a JSON object")
            }
            try merge(fragment, into: &document, from: module.name)
        }
        return try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    /// Adds a module's paths, components and tags to the document; a name defined twice is an error.
    static func merge(_ fragment: [String: Any], into document: inout [String: Any], from module: String) throws {
        func adding(_ part: [String: Any], to existing: [String: Any], at place: String) throws -> [String: Any] {
            var merged = existing
            for (key, value) in part {
                guard merged[key] == nil else {
                    throw StrataError(.internalError, "The \(module) module's openapi.json defines \(place) '\(key)' again")
                }
                merged[key] = value
            }
            return merged
        }
        document["paths"] = try adding(fragment["paths"] as? [String: Any] ?? [:], to: document["paths"] as? [String: Any] ?? [:], at: "path")
        var components = document["components"] as? [String: Any] ?? [:]
        for (kind, part) in fragment["components"] as? [String: Any] ?? [:] {
            components[kind] = try adding(part as? [String: Any] ?? [:], to: components[kind] as? [String: Any] ?? [:], at: kind)
        }
        document["components"] = components
        var tags = document["tags"] as? [[String: Any]] ?? []
        for tag in fragment["tags"] as? [[String: Any]] ?? [] {
            guard !tags.contains(where: { ($0["name"] as? String) == (tag["name"] as? String) }) else {
                throw StrataError(.internalError, "The \(module) module's openapi.json defines tag '\(tag["name"] ?? "")' again")
            }
            tags.append(tag)
        }
        document["tags"] = tags
    }

    /// Every operation of a document, as `METHOD /path`.
    public static func operations(in data: Data) -> Set<String> {
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

    static func addRoute(to router: any RouterMethods<StrataRequestContext>, document: Data) {
        router.get("/openapi.json") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: document))
            )
        }
    }
}

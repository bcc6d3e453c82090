import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore
import StrataCore
public import StrataHTTP

/// `/api/simjobs/structures`: upload a structure file (the request body is the file),
/// list, read, download and delete structures. Reads need `read`, uploads and deletions
/// `write`; a built-in upload (`?builtin=true`) needs `admin`.
///
/// ```
/// curl -X POST --data-binary @MOF-5.cif -H 'Authorization: Bearer …' \
///      'http://127.0.0.1:8080/api/simjobs/structures?name=MOF-5.cif'
/// ```
/// A new file answers 201; the same bytes again answer 200 with the first upload's structure.
public struct StructuresController: Sendable {
    let service: StructureService

    public init(service: StructureService) {
        self.service = service
    }

    struct StructureList: ResponseEncodable {
        var items: [Structure]
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let structures = router.group("/api/simjobs/structures")
        structures.post { request, context in
            try context.requirePermission("write")
            let query = request.uri.queryParameters
            let builtin = try Self.flag(query["builtin"].map(String.init), field: "builtin") ?? false
            if builtin { try context.requirePermission("admin") }
            var format: StructureFormat?
            if let text = query["format"].map(String.init) {
                guard let value = StructureFormat(rawValue: text.lowercased()) else {
                    throw StrataError.validation([.init(field: "format", reason: "must be cif or xyz")])
                }
                format = value
            }
            guard let name = query["name"].map(String.init) else {
                throw StrataError.validation([.init(field: "name", reason: "is required (the file name, e.g. ?name=MOF-5.cif)")])
            }
            let body = try await request.body.collect(upTo: context.bodyLimit)
            let (structure, created) = try await service.upload(
                Data(body.readableBytesView),
                name: name,
                format: format,
                builtin: builtin,
                audit: context.audit,
                requestID: context.requestID
            )
            var response = try Response.json(structure, status: created ? .created : .ok)
            response.headers[.location] = "/api/simjobs/structures/\(structure.id.uuidString.lowercased())"
            return response
        }
        structures.get { request, context in
            try context.requirePermission("read")
            let page = try PageRequest(from: request)
            let query = request.uri.queryParameters
            var filter = StructureService.Filter()
            var errors: [StrataError.FieldError] = []
            do {
                filter.builtin = try Self.flag(query["builtin"].map(String.init), field: "builtin")
            } catch let error as StrataError {
                errors += error.fieldErrors
            }
            if let text = query["format"].map(String.init) {
                if let format = StructureFormat(rawValue: text.lowercased()) {
                    filter.format = format
                } else {
                    errors.append(.init(field: "format", reason: "must be cif or xyz"))
                }
            }
            guard errors.isEmpty else { throw StrataError.validation(errors) }
            return try Response.json(try await service.list(filter, limit: page.limit, cursor: page.cursor))
        }
        structures.get("{id}") { _, context in
            try context.requirePermission("read")
            return try Response.json(try await service.structure(try Self.structureID(context)))
        }
        structures.get("{id}/content") { _, context in
            try context.requirePermission("read")
            let (structure, data) = try await service.content(try Self.structureID(context))
            var headers = HTTPFields()
            headers[.contentType] = structure.format.mediaType
            headers[.contentDisposition] = "attachment; filename=\"\(structure.name)\""
            headers[.eTag] = "\"\(structure.checksum)\""
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        structures.delete("{id}") { _, context in
            try context.requirePermission("write")
            try await service.delete(try Self.structureID(context), audit: context.audit, requestID: context.requestID)
            return Response(status: .noContent)
        }
    }

    static func structureID(_ context: StrataRequestContext) throws -> UUID {
        guard let id = UUID(uuidString: try context.parameters.require("id")) else {
            throw StrataError(.notFound, "No structure has this id (structure ids are UUIDs).")
        }
        return id
    }

    static func flag(_ text: String?, field: String) throws -> Bool? {
        guard let text else { return nil }
        switch text.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default: throw StrataError.validation([.init(field: field, reason: "must be true or false")])
        }
    }
}

import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore
import StrataCore
public import StrataHTTP

/// `/api/simjobs/structures`: upload a structure file (the request body is the file, or a
/// multipart/form-data `file` part), list, read, download and delete structures. Reads need
/// `read`, uploads and deletions `write`; a built-in upload (`?builtin=true`) needs `admin`.
///
/// ```
/// curl -X POST --data-binary @MOF-5.cif -H 'Authorization: Bearer …' \
///      'http://127.0.0.1:8080/api/simjobs/structures?name=MOF-5.cif'
/// curl -F file=@MOF-5.cif -H 'Authorization: Bearer …' http://127.0.0.1:8080/api/simjobs/structures
/// ```
/// A new file answers 201; the same bytes again answer 200 with the first upload's structure.
public struct StructuresController: Sendable {
    let service: StructureService

    public init(service: StructureService) {
        self.service = service
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let structures = router.group("/api/simjobs/structures")
        structures.post { request, context in
            let caller = try context.caller(requiring: "simjobs.write")
            var query = QueryReader(request)
            let builtin = query.bool("builtin") ?? false
            let format = query.choice("format", of: StructureFormat.self)
            let givenName = query.text("name", length: 1...255)
            try query.validate()
            if builtin { try context.requirePermission("simjobs.admin") }
            let upload = try await request.fileUpload(context: context)
            guard let name = givenName ?? upload.fileName, !name.isEmpty else {
                throw StrataError.validation([
                    .init(field: "name", reason: "is required (the file name: ?name=MOF-5.cif, or the filename of a multipart file part)")
                ])
            }
            let (structure, created) = try await service.upload(
                upload.data,
                name: name,
                format: format,
                builtin: builtin,
                by: caller
            )
            var response = try Response.json(structure, status: created ? .created : .ok)
            response.headers[.location] = "/api/simjobs/structures/\(structure.id.uuidString.lowercased())"
            return response
        }
        structures.get { request, context in
            try context.requirePermission("simjobs.read")
            var query = QueryReader(request)
            let filter = StructureService.Filter(
                builtin: query.bool("builtin"),
                format: query.choice("format", of: StructureFormat.self)
            )
            let page = query.page()
            try query.validate()
            return try Response.json(try await service.list(filter, limit: page.limit, cursor: page.cursor))
        }
        structures.get("{id}") { _, context in
            try context.requirePermission("simjobs.read")
            return try Response.json(try await service.structure(try Self.structureID(context)))
        }
        structures.get("{id}/content") { _, context in
            try context.requirePermission("simjobs.read")
            let (structure, data) = try await service.content(try Self.structureID(context))
            var headers = HTTPFields()
            headers[.contentType] = structure.format.mediaType
            headers[.contentDisposition] = "attachment; filename=\"\(structure.name)\""
            headers[.eTag] = "\"\(structure.checksum)\""
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        structures.delete("{id}") { _, context in
            let caller = try context.caller(requiring: "simjobs.write")
            try await service.delete(try Self.structureID(context), by: caller)
            return Response(status: .noContent)
        }
    }

    static func structureID(_ context: StrataRequestContext) throws -> UUID {
        guard let id = UUID(uuidString: try context.parameters.require("id")) else {
            throw StrataError(.notFound, "No structure has this id (structure ids are UUIDs).")
        }
        return id
    }
}

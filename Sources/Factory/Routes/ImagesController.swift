import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore
import StrataCore
public import StrataHTTP

/// `/api/factory/anomalies/{id}/images…`: defect images. `POST` takes the image as the body
/// (`?file_name=`) or as a multipart/form-data `file` part; `GET …/images/{image_id}` returns its
/// bytes as stored. Uploads need `factory.write`, reads `factory.read`.
public struct ImagesController: Sendable {
    let images: ImageService

    public init(images: ImageService) {
        self.images = images
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let group = router.group("/api/factory/anomalies")
        group.post("{id}/images") { request, context in
            let caller = try context.caller(requiring: "factory.write")
            var query = QueryReader(request)
            let givenName = query.text("file_name", length: 1...255)
            try query.validate()
            let id = try AnomaliesController.id(context, "anomaly")
            let upload = try await request.fileUpload(context: context)
            let image = try await images.upload(upload.data, fileName: givenName ?? upload.fileName ?? "image", to: id, by: caller)
            var response = try Response.json(image, status: .created)
            response.headers[.location] = "/api/factory/anomalies/\(AnomalyService.key(id))/images/\(AnomalyService.key(image.imageID))"
            return response
        }
        group.get("{id}/images") { _, context in
            let principal = try context.requirePermission("factory.read")
            let list = try await images.images(of: try AnomaliesController.id(context, "anomaly"), scopes: principal.rowScopes)
            return try Response.json(Page.complete(list))
        }
        group.get("{id}/images/{image_id}") { _, context in
            let principal = try context.requirePermission("factory.read")
            guard let imageID = UUID(uuidString: try context.parameters.require("image_id")) else {
                throw StrataError(.notFound, "This anomaly has no image with this id (ids are UUIDs).")
            }
            let (image, data) = try await images.download(
                imageID,
                of: try AnomaliesController.id(context, "anomaly"),
                scopes: principal.rowScopes
            )
            return Response.file(
                data,
                contentType: image.contentType,
                fileName: image.fileName,
                disposition: .inline,
                headers: [.eTag: "\"\(image.sha256)\""]
            )
        }
    }
}

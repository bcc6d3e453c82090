import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import StrataCore
import StrataHTTP

extension WorkOrdersController {
    /// `POST orders/{id}/attachments?file_name=&type=` (the body is the file, its media type the
    /// `Content-Type`; or a multipart/form-data `file` part with its filename and media type), `GET orders/{id}/messages/{message_id}/file`, `POST orders/{id}/ocr-results`.
    func addFileRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let orders = router.group("/api/workorders/orders")
        orders.post("{id}/attachments") { request, context in
            let caller = try context.caller(requiring: "workorders.write")
            var query = QueryReader(request)
            let givenName = query.text("file_name", length: 1...255)
            let kind = query.choice("type", of: WorkOrderMessage.Kind.self) ?? .attachment
            let note = query.text("note", length: 1...WorkOrdersService.maxMessageLength)
            try query.validate()
            let id = try Self.orderID(context)
            let upload = try await request.fileUpload(context: context)
            guard let name = givenName ?? upload.fileName, !name.isEmpty else {
                throw StrataError.validation([
                    .init(field: "file_name", reason: "is required (?file_name=report.xlsx, or the filename of a multipart file part)")
                ])
            }
            let message = try await service.attach(
                upload.data,
                to: id,
                fileName: name,
                contentType: upload.contentType ?? "application/octet-stream",
                kind: kind,
                note: note,
                by: caller
            )
            var response = try Response.json(message, status: .created)
            response.headers[.location] = "/api/workorders/orders/\(id.uuidString)/messages/\(message.id)/file"
            return response
        }
        orders.get("{id}/messages/{message_id}/file") { _, context in
            let scope = try Self.readScope(context)
            guard let messageID = Int64(try context.parameters.require("message_id")), messageID > 0 else {
                throw StrataError(.notFound, "No message has this id (message ids are whole numbers).")
            }
            let (file, data) = try await service.file(of: messageID, on: try Self.orderID(context), scope: scope)
            return Response.file(data, contentType: file.contentType, fileName: file.fileName)
        }
        orders.post("{id}/ocr-results") { request, context in
            let caller = try context.caller(requiring: "workorders.write")
            let ocr = try await request.decodeJSON(as: WorkOrdersService.OCRResult.self, context: context)
            return try Response.json(try await service.recordOCRResult(ocr, on: try Self.orderID(context), by: caller), status: .created)
        }
    }
}

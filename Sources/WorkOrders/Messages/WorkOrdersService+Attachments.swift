public import Foundation
public import StrataCore
import StrataObjects
public import StrataPostgres

extension WorkOrdersService {
    /// The largest attachment by default, in bytes (`WORKORDERS_UPLOAD_MAX_SIZE`).
    public static let defaultUploadMaxSize = 20 << 20

    /// Stores a file on an order (an attachment, a spreadsheet or a voice note) and posts the
    /// message that references it; emits `attachment.uploaded`. The object is written before the
    /// row and removed again if the row cannot be, so no message points at a missing file.
    /// - Throws: `validation_failed` (empty file, bad name or content type), `not_found`.
    public func attach(
        _ data: Data,
        to id: UUID,
        fileName: String,
        contentType: String,
        kind: WorkOrderMessage.Kind,
        note: String? = nil,
        by caller: Caller
    ) async throws -> WorkOrderMessage {
        var errors: [StrataError.FieldError] = []
        if data.isEmpty { errors.append(.init(field: "body", reason: "the file is empty")) }
        if !(1...255).contains(fileName.textLength) || fileName.contains("/") || fileName.unicodeScalars.contains(where: { $0.value < 0x20 }) {
            errors.append(.init(field: "file_name", reason: "must be 1 to 255 characters, without / or control characters"))
        }
        if !kind.carriesFile { errors.append(.init(field: "type", reason: "must be attachment, excel or voice")) }
        if contentType.textLength > 200 || contentType.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value > 0x7e }) {
            errors.append(.init(field: "Content-Type", reason: "must be a media type of at most 200 characters"))
        }
        if let note, note.textLength > Self.maxMessageLength {
            errors.append(.init(field: "note", reason: "must be at most \(Self.maxMessageLength) characters"))
        }
        guard errors.isEmpty else { throw StrataError.validation(errors) }
        _ = try await order(id, scope: caller.orderScope)  // not_found before any costly work (the write checks again)

        let key = try ObjectKey("workorders/\(id.uuidString.lowercased())/files/\(UUID().uuidString.lowercased())")
        let info = try await objects.put(data, at: key, contentType: contentType)
        let file = WorkOrderMessage.File(objectKey: key.rawValue, fileName: fileName, contentType: contentType, size: info.size)
        do {
            return try await append(
                NewMessage(workOrderID: id, kind: kind, role: .member, body: note ?? "", file: file, createdBy: String(caller.name.prefix(64))),
                kind: "attachment.uploaded",
                by: caller
            )
        } catch {
            try? await objects.delete(key)
            throw error
        }
    }

    /// An OCR service's result for a file on an order.
    public struct OCRResult: Sendable, Decodable {
        /// The message whose file was read.
        public var sourceMessageID: Int64?
        /// The result as the OCR service gave it (any JSON).
        public var result: JSONValue
        /// A line for the chat (e.g. "12 rows read, 2 defects").
        public var summary: String?

        public init(sourceMessageID: Int64? = nil, result: JSONValue, summary: String? = nil) {
            self.sourceMessageID = sourceMessageID
            self.result = result
            self.summary = summary
        }

        enum CodingKeys: String, CodingKey {
            case result, summary
            case sourceMessageID = "source_message_id"
        }
    }

    /// The largest OCR result, in bytes of JSON.
    public static let maxOCRResultSize = 4 << 20

    /// Stores an OCR result as a JSON object, links it to the order with a bot message, and emits
    /// `ocr.completed`.
    /// - Throws: `validation_failed`, `not_found` (order, or a source message not on it).
    public func recordOCRResult(_ ocr: OCRResult, on id: UUID, by caller: Caller) async throws -> WorkOrderMessage {
        let text = ocr.result.text
        var errors: [StrataError.FieldError] = []
        if text.utf8.count > Self.maxOCRResultSize {
            errors.append(.init(field: "result", reason: "must be at most \(Self.maxOCRResultSize) bytes of JSON"))
        }
        if let summary = ocr.summary, summary.textLength > Self.maxMessageLength {
            errors.append(.init(field: "summary", reason: "must be at most \(Self.maxMessageLength) characters"))
        }
        if let source = ocr.sourceMessageID, source < 1 { errors.append(.init(field: "source_message_id", reason: "must be a message id")) }
        guard errors.isEmpty else { throw StrataError.validation(errors) }
        _ = try await order(id, scope: caller.orderScope)  // not_found before any costly work (the write checks again)
        if let source = ocr.sourceMessageID {
            let found = try await repository.messages(of: id, afterID: source - 1, limit: 1).first
            guard found?.id == source else {
                throw StrataError(.notFound, "The work order has no message \(source).", details: ["field": "source_message_id"])
            }
        }
        let key = try ObjectKey("workorders/\(id.uuidString.lowercased())/ocr/\(UUID().uuidString.lowercased()).json")
        let info = try await objects.put(Data(text.utf8), at: key, contentType: "application/json")
        let file = WorkOrderMessage.File(objectKey: key.rawValue, fileName: "ocr-result.json", contentType: "application/json", size: info.size)
        var payload: [String: JSONValue] = ["ocr": .bool(true)]
        if let source = ocr.sourceMessageID { payload["source_message_id"] = .number(Double(source)) }
        do {
            return try await append(
                NewMessage(
                    workOrderID: id,
                    kind: .attachment,
                    role: .bot,
                    body: ocr.summary ?? "OCR result",
                    file: file,
                    payload: .object(payload),
                    createdBy: String(caller.name.prefix(64))
                ),
                kind: "ocr.completed",
                by: caller
            )
        } catch {
            try? await objects.delete(key)
            throw error
        }
    }

    /// The file a message carries, with the message.
    /// - Throws: `not_found` (order, message, or a message without a file); `storage_unavailable`.
    public func file(of messageID: Int64, on id: UUID, scope: [UUID]? = nil) async throws -> (WorkOrderMessage.File, Data) {
        _ = try await order(id, scope: scope)
        let message = try await repository.messages(of: id, afterID: messageID - 1, limit: 1).first
        guard let message, message.id == messageID, let file = message.file else {
            throw StrataError(.notFound, "The work order has no file in message \(messageID).")
        }
        guard let data = try await objects.get(try ObjectKey(file.objectKey)) else {
            throw StrataError(.notFound, "The file of message \(messageID) is no longer stored.")
        }
        return (file, data)
    }
}

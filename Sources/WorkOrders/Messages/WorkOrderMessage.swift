public import Foundation
public import StrataCore

/// A chat or system message on a work order. Voice notes, attachments and spreadsheets are
/// objects in object storage; the message holds their key, never their bytes.
public struct WorkOrderMessage: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case text, voice, attachment, excel, system

        /// Whether messages of this kind carry a file.
        public var carriesFile: Bool { self == .voice || self == .attachment || self == .excel }
    }

    /// Who speaks: people on the order, the customer, an automation (the OCR bot) or the system.
    public enum Role: String, Sendable, Codable, CaseIterable {
        case member, customer, bot, system
    }

    /// A file a message carries.
    public struct File: Sendable, Codable, Equatable {
        public var objectKey: String
        public var fileName: String
        public var contentType: String
        public var size: Int64

        public init(objectKey: String, fileName: String, contentType: String, size: Int64) {
            self.objectKey = objectKey
            self.fileName = fileName
            self.contentType = contentType
            self.size = size
        }

        enum CodingKeys: String, CodingKey {
            case size
            case objectKey = "object_key"
            case fileName = "file_name"
            case contentType = "content_type"
        }
    }

    /// Increasing per server: the order's messages sort by it, and unread counts compare it.
    public var id: Int64
    public var workOrderID: UUID
    public var kind: Kind
    public var role: Role
    public var body: String
    public var file: File?
    /// Structured extras (an OCR result's summary, a system event's facts).
    public var payload: JSONValue
    public var createdBy: String
    public var createdAt: Date

    public init(
        id: Int64,
        workOrderID: UUID,
        kind: Kind,
        role: Role,
        body: String,
        file: File? = nil,
        payload: JSONValue = .object([:]),
        createdBy: String,
        createdAt: Date
    ) {
        self.id = id
        self.workOrderID = workOrderID
        self.kind = kind
        self.role = role
        self.body = body
        self.file = file
        self.payload = payload
        self.createdBy = createdBy
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, role, body, file, payload
        case workOrderID = "work_order_id"
        case kind = "message_type"
        case createdBy = "created_by"
        case createdAt = "created_at"
    }
}

/// A message about to be written (the store gives it its id and time).
public struct NewMessage: Sendable, Equatable {
    public var workOrderID: UUID
    public var kind: WorkOrderMessage.Kind
    public var role: WorkOrderMessage.Role
    public var body: String
    public var file: WorkOrderMessage.File?
    public var payload: JSONValue
    public var createdBy: String

    public init(
        workOrderID: UUID,
        kind: WorkOrderMessage.Kind,
        role: WorkOrderMessage.Role,
        body: String,
        file: WorkOrderMessage.File? = nil,
        payload: JSONValue = .object([:]),
        createdBy: String
    ) {
        self.workOrderID = workOrderID
        self.kind = kind
        self.role = role
        self.body = body
        self.file = file
        self.payload = payload
        self.createdBy = createdBy
    }
}

/// A user's canned phrase.
public struct QuickReply: Sendable, Codable, Equatable {
    public var id: UUID
    public var ownerID: String
    public var role: String
    public var content: String
    public var createdAt: Date

    public init(id: UUID, ownerID: String, role: String, content: String, createdAt: Date) {
        self.id = id
        self.ownerID = ownerID
        self.role = role
        self.content = content
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, role, content
        case ownerID = "owner_id"
        case createdAt = "created_at"
    }
}

import Foundation
import PostgresNIO
import StrataCore
import StrataObjects
import StrataPostgres
import StrataTestSupport
import Testing

@testable import WorkOrders

@Suite struct WorkOrdersAttachmentTests {
    @Test(.timeLimit(.minutes(1)), arguments: [WorkOrdersModule.Store.memory, .postgres])
    func filesGoToObjectStorageAndMessagesKeepOnlyTheirKeys(store: WorkOrdersModule.Store) async throws {
        try await withTestFileStore { objects in
            try await withRepository(store) { repository in
                let service = WorkOrdersService(repository: repository, redis: nil, objects: objects, logger: TestPostgres.logger)
                let order = try await service.create(weldingDraft(), by: manager)
                let sheet = Data((0..<5000).map { UInt8($0 % 251) })
                let message = try await service.attach(
                    sheet,
                    to: order.id,
                    fileName: "inspection.xlsx",
                    contentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    kind: .excel,
                    note: "QA sheet",
                    by: manager
                )
                let file = try #require(message.file)
                #expect(message.kind == .excel && message.body == "QA sheet" && file.size == 5000 && file.fileName == "inspection.xlsx")
                #expect(file.objectKey.hasPrefix("workorders/\(order.id.uuidString.lowercased())/files/"))
                #expect(try await objects.get(try ObjectKey(file.objectKey)) == sheet)
                let (stored, data) = try await service.file(of: message.id, on: order.id)
                #expect(stored == file && data == sheet)

                let ocr = try await service.recordOCRResult(
                    .init(sourceMessageID: message.id, result: .object(["rows": .number(12), "defects": .number(2)]), summary: "12 rows, 2 defects"),
                    on: order.id,
                    by: Caller(actor: "user:ocr-bot", name: "ocr-bot")
                )
                #expect(
                    ocr.role == .bot && ocr.body == "12 rows, 2 defects" && ocr.payload["source_message_id"] == .number(Double(message.id))
                )
                let (_, json) = try await service.file(of: ocr.id, on: order.id)
                #expect(try JSONValue(parsing: String(decoding: json, as: UTF8.self)) == .object(["rows": .number(12), "defects": .number(2)]))
                let kinds = try await repository.events(of: order.id).map(\.kind)
                #expect(kinds.suffix(2) == ["attachment.uploaded", "ocr.completed"])

                await #expect(throws: StrataError.code(.validationFailed)) {
                    try await service.attach(Data(), to: order.id, fileName: "empty.txt", contentType: "text/plain", kind: .attachment, by: manager)
                }
                await #expect(throws: StrataError.code(.validationFailed)) {
                    try await service.attach(
                        sheet,
                        to: order.id,
                        fileName: "../../etc/passwd",
                        contentType: "text/plain",
                        kind: .attachment,
                        by: manager
                    )
                }
                await #expect(throws: StrataError.code(.notFound)) {
                    try await service.attach(
                        sheet,
                        to: UUID(),
                        fileName: "a.bin",
                        contentType: "application/octet-stream",
                        kind: .attachment,
                        by: manager
                    )
                }
                await #expect(throws: StrataError.code(.notFound)) {
                    try await service.recordOCRResult(.init(sourceMessageID: 999_999, result: .null), on: order.id, by: manager)
                }
                let files = try await objects.listAll(prefix: "workorders/")
                #expect(files.count == 2, "refused uploads left no object behind")
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aFileWhoseMessageCannotBeWrittenIsRemovedAgain() async throws {
        try await withTestFileStore { objects in
            try await withTestDatabase(lines: [try WorkOrdersModule().migrationLine()]) { database in
                let service = WorkOrdersService(
                    repository: PostgresWorkOrdersRepository(pool: database.pool),
                    redis: nil,
                    objects: objects,
                    logger: TestPostgres.logger
                )
                let order = try await service.create(weldingDraft(), by: manager)
                // The message row fails after the file has been stored.
                for statement in [
                    "CREATE FUNCTION workorders.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$",
                    "CREATE TRIGGER refuse BEFORE INSERT ON workorders.work_order_messages FOR EACH ROW EXECUTE FUNCTION workorders.refuse()",
                ] {
                    _ = try await database.pool.query(PostgresQuery(unsafeSQL: statement))
                }
                await #expect(throws: StrataError.self) {
                    try await service.attach(
                        Data("x".utf8),
                        to: order.id,
                        fileName: "a.txt",
                        contentType: "text/plain",
                        kind: .attachment,
                        by: manager
                    )
                }
                await #expect(throws: StrataError.self) {
                    try await service.recordOCRResult(.init(result: .object(["rows": .number(1)])), on: order.id, by: manager)
                }
                #expect(try await objects.listAll(prefix: "workorders/").isEmpty, "no object without its message")
            }
        }
    }
}

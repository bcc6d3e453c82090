import Foundation
import StrataCore
import StrataPostgres
import Testing

@Suite struct MigrationAnalysisTests {
    func line(_ versions: [Int], module: String = "app") throws -> MigrationLine {
        try MigrationLine(
            module: module,
            migrations: versions.map {
                Migration(module: module, version: $0, name: "step_\($0)", sql: "SELECT \($0);")
            }
        )
    }

    func applied(_ migration: Migration, checksum: String? = nil, state: String = "applied") -> LedgerRow {
        LedgerRow(
            module: migration.module,
            version: migration.version,
            name: migration.name,
            checksum: checksum ?? migration.checksum,
            state: state
        )
    }

    @Test func pendingFilesAreAppliedInOrder() throws {
        let line = try line([2, 1, 3])
        let analysis = MigrationAnalysis(lines: [line], ledger: [applied(line.migrations[0])])
        #expect(analysis.toApply.map(\.version) == [2, 3])
        #expect(!analysis.isCurrent)
        #expect(analysis.blockingErrors.isEmpty)
    }

    @Test func anEditedAppliedFileIsRefusedByName() throws {
        let line = try line([1])
        let analysis = MigrationAnalysis(lines: [line], ledger: [applied(line.migrations[0], checksum: String(repeating: "0", count: 64))])
        #expect(analysis.entries.first?.state == .checksumMismatch)
        #expect(analysis.blockingErrors.first?.code == .migrationChecksumMismatch)
        #expect(analysis.blockingErrors.first?.message.contains("app/0001_step_1.sql") == true)
    }

    @Test func aPendingFileBelowTheLatestAppliedIsAnError() throws {
        let line = try line([1, 2, 3])
        let ledger = [applied(line.migrations[0]), applied(line.migrations[2])]
        let analysis = MigrationAnalysis(lines: [line], ledger: ledger)
        #expect(analysis.blockingErrors.map(\.code) == [.migrationOutOfOrder])
        #expect(MigrationAnalysis(lines: [line], ledger: ledger, allowOutOfOrder: true).toApply.map(\.version) == [2])
    }

    @Test func aFailedNoTransactionFileRunsAgain() throws {
        let line = try line([1])
        let analysis = MigrationAnalysis(lines: [line], ledger: [applied(line.migrations[0], state: "failed")])
        #expect(analysis.toApply.map(\.version) == [1])
        #expect(analysis.entries.first?.state == .failed)
    }

    @Test func rowsUnknownToThisBuildAreReportedButDoNotBlock() throws {
        let line = try line([1])
        let newer = LedgerRow(module: "app", version: 2, name: "future", checksum: String(repeating: "a", count: 64))
        let analysis = MigrationAnalysis(lines: [line], ledger: [applied(line.migrations[0]), newer])
        #expect(analysis.entries.last?.state == .unknown)
        #expect(analysis.isCurrent)
    }

    @Test func checksumsIgnoreLineEndingStyle() {
        #expect(Migration.checksum(of: "A;\r\nB;\r\n") == Migration.checksum(of: "A;\nB;\n"))
        #expect(Migration.checksum(of: "A;\n") != Migration.checksum(of: "B;\n"))
    }

    @Test func duplicateVersionsAreRejected() {
        #expect(throws: StrataError.self) {
            _ = try MigrationLine(
                module: "app",
                migrations: [
                    Migration(module: "app", version: 1, name: "a", sql: ""), Migration(module: "app", version: 1, name: "b", sql: ""),
                ]
            )
        }
    }

    @Test func filesMustBeNamedWithANumberAndALowercaseName() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("strata-migrations-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "SELECT 1;".write(to: directory.appendingPathComponent("0001_ok_name.sql"), atomically: true, encoding: .utf8)
        #expect(try MigrationLine(module: "app", directory: directory).migrations.map(\.name) == ["ok_name"])
        try "SELECT 1;".write(to: directory.appendingPathComponent("2_Bad-Name.sql"), atomically: true, encoding: .utf8)
        #expect(throws: StrataError.self) { _ = try MigrationLine(module: "app", directory: directory) }
    }

    @Test func thePlatformLineShipsTheLedgerFirst() throws {
        let platform = try MigrationLine.platform()
        #expect(platform.module == "strata")
        #expect(platform.migrations.first?.name == "migration_ledger")
    }
}

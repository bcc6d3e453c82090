import Foundation
import PostgresNIO
import StrataCore
import StrataTestSupport
import Synchronization
import Testing

@testable import StrataPostgres

#if canImport(Glibc)
import Glibc
#endif

/// Physical backups against a real PostgreSQL archiving its WAL into a real pgBackRest
/// repository (Debian's 2.45): point-in-time restores give exactly the rows committed before
/// each target, a target past the archive promotes nothing, `verify` names a missing WAL
/// segment and a corrupted file, expiry keeps what the policy promises, and a cluster whose data
/// folder is lost comes back in place with every acknowledged write older than `archive_timeout`.
@Suite(.serialized) struct PhysicalBackupTests {
    /// The number of rows of `table` in a restored copy.
    func count(_ table: String, in copy: PhysicalRestore.Copy) async throws -> Int64 {
        let pool = PostgresPool(url: try DatabaseURL(parsing: copy.url), configuration: .init(poolSize: 1), logger: TestPostgres.logger)
        return try await pool.withRunning {
            try await pool.query("SELECT count(*) FROM \(unescaped: table)").first?.decode(Int64.self) ?? -1
        }
    }

    /// Four batches of 1,000 rows, the time recorded after each, a restore point after the
    /// second and an incremental backup after it, the insert LSN after the third.
    struct Batches {
        var full: BackupRecord
        var times: [Date]
        var lsnAfterThird: String
    }

    func writeBatches(_ archiving: ArchivingCluster) async throws -> Batches {
        let pool = archiving.pool
        try await pool.query("CREATE TABLE public.batches (batch int NOT NULL, n int NOT NULL, note text NOT NULL)")
        let backups = try archiving.backups()
        let full = try await backups.create(.full)
        #expect(full.kind == "full" && full.label?.hasSuffix("F") == true && full.status == "succeeded")
        var times: [Date] = []
        var lsnAfterThird = ""
        for batch in 1...4 {
            try await pool.query("INSERT INTO public.batches SELECT \(batch), n, repeat(md5(n::text), 20) FROM generate_series(1, 1000) AS n")
            times.append(try #require(try await pool.query("SELECT clock_timestamp()").first?.decode(Date.self)))
            if batch == 2 {
                try await pool.query("SELECT pg_create_restore_point('after-batch-2')")
                let incremental = try await backups.create(.incr)
                #expect(incremental.kind == "incr" && incremental.label?.hasPrefix(full.label ?? "?") == true)
            }
            if batch == 3 {
                // The insert position: with asynchronous commit the written one may lag behind.
                lsnAfterThird = try #require(try await pool.query("SELECT pg_current_wal_insert_lsn()::text").first?.decode(String.self))
            }
        }
        // A later commit for the last time target to stop at, and every segment archived.
        try await pool.query("CREATE TABLE public.after_the_last_batch (x int)")
        try await archiving.tool().run(["check"])
        return Batches(full: full, times: times, lsnAfterThird: lsnAfterThird)
    }

    @Test(.timeLimit(.minutes(2)))
    func eachPointInTimeGivesExactlyTheRowsCommittedBeforeIt() async throws {
        try await withArchivingCluster { archiving in
            let batches = try await writeBatches(archiving)
            let restores = try archiving.restores()
            for (index, time) in batches.times.enumerated() {
                let copy = try await restores.restoreSideBySide(to: .time(time))
                #expect(try await count("public.batches", in: copy) == Int64(index + 1) * 1000, "restored to the time after batch \(index + 1)")
                try await restores.stop(id: copy.id)
            }
            let backups = try archiving.backups()
            let listed = try await backups.sets()
            #expect(listed.map(\.type) == ["full", "incr"] && listed.allSatisfy { $0.lsnStart != nil && $0.recordID != nil })
            let window = try await backups.window()
            #expect(window.earliest != nil && window.latest.map { $0 >= batches.times[3] } == true, "\(window)")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aRestorePointAnLSNAndTheLatestRestoreExactlyAndATargetPastTheArchivePromotesNothing() async throws {
        try await withArchivingCluster { archiving in
            let batches = try await writeBatches(archiving)
            let restores = try archiving.restores()
            // The restore point is older than the newest backup: the one before it is used.
            let named = try await restores.restoreSideBySide(to: .restorePoint("after-batch-2"))
            #expect(try await count("public.batches", in: named) == 2000)
            try await restores.stop(id: named.id)
            let atLSN = try await restores.restoreSideBySide(to: .lsn(batches.lsnAfterThird))
            let rowsAtLSN = try await count("public.batches", in: atLSN)
            #expect(rowsAtLSN == 3000, "restored to \(batches.lsnAfterThird) from \(atLSN.backupSet ?? "?"): \(rowsAtLSN) rows")
            try await restores.stop(id: atLSN.id)
            let latest = try await restores.restoreSideBySide(to: .latest)
            #expect(try await count("public.batches", in: latest) == 4000)
            #expect(restores.copies().map(\.id) == [latest.id])

            // Past the archive: PostgreSQL's own refusal, nothing promoted, nothing left behind.
            let error = await #expect(throws: StrataError.self) {
                try await restores.restoreSideBySide(to: .time(Date().addingTimeInterval(3600)))
            }
            #expect(error?.message.contains("recovery ended before configured recovery target was reached") == true, "\(String(describing: error))")
            #expect(restores.copies().map(\.id) == [latest.id])
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func verifyNamesAMissingWALSegmentAndACorruptedFile() async throws {
        try await withArchivingCluster { archiving in
            let pool = archiving.pool
            let backups = try archiving.backups()
            let full = try await backups.create(.full)
            for round in 1...4 {
                try await pool.query("CREATE TABLE public.round_\(unescaped: "\(round)") AS SELECT generate_series(1, 1000) AS n")
                try await pool.query("SELECT pg_switch_wal()")
            }
            try await archiving.tool().run(["check"])
            let healthy = try await backups.verify()
            #expect(healthy.passed, "\(healthy.problems)")
            #expect(healthy.walChecked >= 5 && healthy.filesChecked > 100)

            // A copy of the repository with one archived segment removed and one byte flipped.
            let copy = archiving.folder + "/repo-copy"
            _ = try await ChildProcess.run("/bin/cp", ["-a", archiving.settings.repositoryPath, copy])
            let archive = "\(copy)/archive/\(PgBackRest.stanza)/15-1/0000000100000000"
            let segments = try FileManager.default.contentsOfDirectory(atPath: archive).filter { !$0.contains(".backup") && !$0.contains(".history") }
                .sorted()
            let removed = segments[segments.count - 3]
            try FileManager.default.removeItem(atPath: "\(archive)/\(removed)")
            let catalog = "\(copy)/backup/\(PgBackRest.stanza)/\(full.label ?? "")/pg_data/global"
            let file = try #require(
                try FileManager.default.contentsOfDirectory(atPath: catalog).filter { $0.hasPrefix("pg_control") == false }.sorted().first
            )
            var bytes = try Data(contentsOf: URL(fileURLWithPath: "\(catalog)/\(file)"))
            bytes[bytes.count / 2] ^= 0xFF
            try bytes.write(to: URL(fileURLWithPath: "\(catalog)/\(file)"))

            var damaged = archiving.settings
            damaged.repositoryPath = copy
            let report = try await PhysicalBackup(
                pool: pool,
                configuration: BackupConfiguration(location: archiving.folder + "/logical", physical: damaged),
                logger: TestPostgres.logger
            ).verify(label: full.label, checkArchiving: false)
            #expect(!report.passed)
            #expect(report.problems.contains { $0.contains("WAL gap") }, "\(report.problems) (removed \(removed))")
            #expect(report.problems.contains { $0.contains("invalid checksum") && $0.contains(file) }, "\(report.problems)")
            let recorded = try await pool.query(
                "SELECT count(*) FROM strata.backup_verifications WHERE method = 'pgbackrest' AND NOT passed"
            ).first?.decode(Int64.self)
            #expect(recorded == 1)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func expiryOfRelabelledBackupsKeepsWhatThePolicyPromisesAndEveryRemainingBackupVerifies() async throws {
        try await withArchivingCluster { archiving in
            let backups = try archiving.backups()
            // Four days' full and hourly incremental, moved back in the repository's catalogue
            // to 31, 20, 8 and 1 days ago: the seed's schedule, seen a month on.
            let day: TimeInterval = 86_400
            let now = Date()
            var stops: [String: Date] = [:]
            var labels: [(full: String, incremental: String)] = []
            for daysAgo in [31.0, 20, 8, 1] {
                let full = try #require(try await backups.create(.full).label)
                let incremental = try #require(try await backups.create(.incr).label)
                stops[full] = now.addingTimeInterval(-daysAgo * day)
                stops[incremental] = now.addingTimeInterval(-daysAgo * day + 3_600)
                labels.append((full, incremental))
            }
            try archiving.relabel(stops)
            let relabelled = try await backups.sets()
            #expect(relabelled.count == 8)
            for set in relabelled {
                let stop = try #require(stops[set.label]).timeIntervalSince1970
                #expect(abs(set.stoppedAt.timeIntervalSince1970 - stop) < 1, "pgBackRest reads \(set.label) as relabelled")
            }

            // The full of 31 days ago goes with its incremental; so do the incrementals of 20
            // and 8 days ago (no kept backup needs them); the rest stays.
            let goes = [labels[0].full, labels[0].incremental, labels[1].incremental, labels[2].incremental]
            let planned = try await backups.expire(dryRun: true)
            #expect(Set(planned.map(\.label)) == Set(goes))
            #expect(try await backups.sets().count == 8, "a dry run removes nothing")
            let expired = try await backups.expire()
            #expect(Set(expired.map(\.label)) == Set(goes))

            let remaining = try await backups.sets()
            #expect(remaining.map(\.label) == [labels[1].full, labels[2].full, labels[3].full, labels[3].incremental])
            let incrementalsOlderThanAWeek = remaining.filter { $0.type != "full" && $0.stoppedAt < now.addingTimeInterval(-7 * day) }
            #expect(incrementalsOlderThanAWeek.isEmpty)
            let fulls = remaining.filter { $0.type == "full" }
            #expect(fulls.count <= 31 && fulls.allSatisfy { $0.stoppedAt >= now.addingTimeInterval(-30 * day) })
            for set in remaining {
                let verification = try await backups.verify(label: set.label)
                #expect(verification.passed, "\(set.label): \(verification.problems)")
            }
            let marked = try await archiving.pool.query("SELECT label FROM strata.backups WHERE status = 'expired' ORDER BY label").map {
                try $0.decode(String.self)
            }
            #expect(marked == goes.sorted())
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aLostDataFolderComesBackInPlaceWithEveryWriteOlderThanTheArchiveTimeout() async throws {
        try await withArchivingCluster(archiveTimeout: 2) { archiving in
            let pool = archiving.pool
            try await pool.query("CREATE TABLE public.ledger (id bigint PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT clock_timestamp())")
            _ = try await archiving.backups().create(.full)

            // A writer keeps a ledger of the writes PostgreSQL acknowledged, and when.
            let acknowledged = Mutex<[(id: Int64, at: Date)]>([])
            let writer = Task {
                var id: Int64 = 0
                while !Task.isCancelled {
                    id += 1
                    do {
                        try await pool.query("INSERT INTO public.ledger (id) VALUES (\(id))")
                        let done = Date()
                        acknowledged.withLock { $0.append((id, done)) }
                    } catch { return }
                    try? await Task.sleep(for: .milliseconds(5))
                }
            }
            try await Task.sleep(for: .seconds(6))
            // The disaster: the server killed, its data folder gone.
            let killedAt = Date()
            kill(archiving.cluster.serverPID, SIGKILL)
            try? await Task.sleep(for: .milliseconds(300))
            writer.cancel()
            _ = await writer.value
            await archiving.cluster.stop()
            try FileManager.default.removeItem(atPath: archiving.settings.dataDirectory)

            let restores = try archiving.restores()
            _ = try await restores.restoreInPlace(to: .latest)
            var configuration = ArchivingCluster.clusterConfiguration(archiving.settings)
            configuration.startTimeout = .seconds(90)
            let restored = try await EmbeddedCluster.start(configuration, logger: TestPostgres.logger)
            let url = restored.url
            let restoredPool = PostgresPool(url: url, configuration: .init(poolSize: 1), logger: TestPostgres.logger)
            let present = try await restoredPool.withRunning {
                Set(try await restoredPool.query("SELECT id FROM public.ledger").map { try $0.decode(Int64.self) })
            }
            await restored.stop()
            let writes = acknowledged.withLock { $0 }
            let missing = writes.filter { !present.contains($0.id) }
            let window = TimeInterval(archiving.settings.archiveTimeoutSeconds) + 1
            #expect(writes.count > 100, "the writer wrote")
            #expect(
                missing.allSatisfy { killedAt.timeIntervalSince($0.at) <= window },
                "acknowledged writes older than archive_timeout are missing: \(missing.filter { killedAt.timeIntervalSince($0.at) > window }.prefix(5).map(\.id))"
            )
            print("disaster: \(writes.count) acknowledged writes, \(missing.count) missing after the restore, all within \(window) s of the kill")
        }
    }
}

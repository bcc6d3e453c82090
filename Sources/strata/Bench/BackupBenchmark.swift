import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataServer
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `strata bench backup`: logical backups of a scratch database of about `megabytes` MB
/// (a table of ~1 KB rows with jsonb and text, plus the platform's tables), each step beside
/// the tool it wraps, run directly on the same data in the same run:
/// - `backup.logical_dump`: `strata backup create` (pg_dump of an exported snapshot, with the
///   manifest taken meanwhile) against `pg_dump --format=custom --compress=9` (two of each,
///   interleaved);
/// - `backup.logical_restore`: `strata backup restore` against `pg_restore --single-transaction
///   --exit-on-error --no-owner` into a new database;
/// - `backup.drill`: restore, table-by-table comparison with the manifest and `pg_amcheck`;
///
/// and physical backups of a cluster of its own of the same size, archiving its WAL:
/// - `backup.physical_full`: `strata backup create --type full` against `pgbackrest backup
///   --type=full` with the same settings;
/// - `backup.physical_incr`: the same for `--type incr`, each after 5 % of the rows changed, a
///   checkpoint and the archiver catching up (four of each, interleaved);
/// - `backup.physical_restore`: `strata backup restore --latest` (files, start, recovery,
///   promotion) against `pgbackrest restore` of the same backup into a new folder and
///   `pg_ctl start -w` on it (the same outcome by hand; the files-only time is reported beside),
///   after an untimed one, two of each, interleaved;
/// - `backup.physical_drill`: restore to a fresh restore point, row-for-row comparison, `pg_amcheck`;
/// - `backup.recovery_point`: the acknowledged writes lost when the server is killed and its
///   data folder removed, then restored in place (the oldest of them: at most `archive_timeout`).
/// `ratio` is the direct tool's time over Strata's (1.0: no overhead).
struct BackupBenchmark {
    struct Plan {
        var megabytes: Int
    }

    let plan: Plan
    let configuration: ServerConfiguration
    let logger: Logger
    let report: Report

    func run() async throws {
        try await ScratchDatabase.withPlatform(
            "strata_bench_backup",
            configuration: configuration,
            pool: .init(poolSize: 2, maxOverflow: 2, statementTimeout: nil),
            logger: logger
        ) { pool, _ in
            let rows = plan.megabytes * 1_000
            report.note("backup benchmark: loading \(rows) rows (~\(plan.megabytes) MB) into \(pool.url.database)")
            try await pool.query(
                """
                CREATE TABLE public.bench_rows (
                    id bigint PRIMARY KEY, account integer NOT NULL, payload jsonb NOT NULL, note text NOT NULL
                )
                """
            )
            try await pool.query(
                """
                INSERT INTO public.bench_rows
                SELECT n, n % 1000, jsonb_build_object('n', n, 'kind', 'bench', 'tags', jsonb_build_array(n % 7, n % 11)),
                       repeat(md5(n::text), 28)
                FROM generate_series(1, \(rows)) AS n
                """
            )
            try await pool.query("VACUUM ANALYZE public.bench_rows")
            let bytes = try await pool.query("SELECT pg_database_size(current_database())").first?.decode(Int64.self) ?? 0
            let megabytes = Double(bytes) / 1_048_576
            report.note(String(format: "database size %.0f MB", megabytes))

            let folder = NSTemporaryDirectory() + "strata-bench-backup-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let server = try await pool.query("SELECT current_setting('server_version_num')::int").first?.decode(Int.self) ?? 0
            let tools = try DumpTools.locate(in: nil, serverMajor: server / 10_000)
            let environment = DumpTools.libpqEnvironment(pool.url)
            let backups = LogicalBackup(
                pool: pool,
                configuration: BackupConfiguration(location: folder + "/strata"),
                logger: logger
            )

            // Dump: the tool alone and Strata's (snapshot, manifest, record), four rounds in the
            // order direct, Strata, Strata, direct, so that neither always runs on the heels of
            // the other: the mean of each.
            let directFile = folder + "/direct.dump"
            var directDumps: [Double] = []
            var strataDumps: [Double] = []
            var taken: BackupRecord?
            for round in 0..<4 {
                if Self.directRuns(round) {
                    directDumps.append(
                        try await timed {
                            _ = try await ChildProcess.run(
                                tools.pgDump,
                                ["--format=custom", "--compress=9", "--file=\(directFile)", "--no-password"],
                                environment: environment
                            )
                        }
                    )
                } else {
                    strataDumps.append(try await timed { taken = try await backups.create() })
                }
            }
            let dumpFile = taken?.location ?? directFile
            emit("backup.logical_dump", seconds: Self.mean(strataDumps), megabytes: megabytes, peer: "pg_dump", peerSeconds: Self.mean(directDumps))
            report.note("logical dump seconds are the mean of two of each")

            // Restore: the tool alone into a new database, then Strata's.
            let directTarget = "strata_bench_backup_direct"
            try await pool.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(quoteIdentifier(directTarget)) WITH (FORCE)"))
            try await pool.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(quoteIdentifier(directTarget))"))
            let directRestore = try await timed {
                _ = try await ChildProcess.run(
                    tools.pgRestore,
                    ["--single-transaction", "--exit-on-error", "--no-owner", "--no-password", "--dbname=\(directTarget)", dumpFile],
                    environment: DumpTools.libpqEnvironment(pool.url.with(database: directTarget))
                )
            }
            try await pool.query(PostgresQuery(unsafeSQL: "DROP DATABASE \(quoteIdentifier(directTarget)) WITH (FORCE)"))
            let strataTarget = "strata_bench_backup_restored"
            try await pool.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(quoteIdentifier(strataTarget)) WITH (FORCE)"))
            let strataRestore = try await timed { _ = try await backups.restore(file: dumpFile, into: strataTarget) }
            try await pool.query(PostgresQuery(unsafeSQL: "DROP DATABASE \(quoteIdentifier(strataTarget)) WITH (FORCE)"))
            emit("backup.logical_restore", seconds: strataRestore, megabytes: megabytes, peer: "pg_restore", peerSeconds: directRestore)

            // The drill: restore, compare every table with the manifest, pg_amcheck.
            var drill: LogicalBackup.Drill?
            let drillSeconds = try await timed { drill = try await backups.drill() }
            report.emit([
                ("workload", "backup.drill"), ("seconds", drillSeconds), ("mb_per_s", megabytes / drillSeconds),
                ("passed", drill?.passed ?? false), ("tables", drill?.tablesCompared ?? 0),
            ])
        }
        try await runPhysical()
    }

    /// The physical steps, on a cluster of their own archiving into a repository of their own.
    func runPhysical() async throws {
        let folder = NSTemporaryDirectory() + "strata-bench-physical-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let settings = BackupConfiguration.Physical(folder: folder, archiveTimeoutSeconds: 10)
        let backups = BackupConfiguration(location: folder + "/logical", physical: settings)
        let cluster = try await EmbeddedCluster.start(
            .init(directory: settings.clusterDirectory, settings: PgBackRest.archiveSettings(settings)),
            logger: logger
        )
        let pool = PostgresPool(url: cluster.url, configuration: .init(poolSize: 2, statementTimeout: nil), logger: logger)
        do {
            try await pool.withRunning {
                let tool = try PgBackRest(settings: settings, url: cluster.url)
                try await tool.prepareStanza()
                _ = try await Migrator(lines: [try .platform()], pool: pool, logger: logger).migrate()
                let rows = plan.megabytes * 1_000
                report.note("physical backups: loading \(rows) rows into a cluster of their own")
                // No autovacuum: its pass over the table after the updates (with a full-page image
                // of every page after a checkpoint) would land on whichever step runs then.
                try await pool.query(
                    """
                    CREATE TABLE public.bench_rows (id bigint PRIMARY KEY, account integer NOT NULL, payload jsonb NOT NULL, note text NOT NULL)
                    WITH (autovacuum_enabled = false)
                    """
                )
                try await pool.query(
                    """
                    INSERT INTO public.bench_rows
                    SELECT n, n % 1000, jsonb_build_object('n', n, 'kind', 'bench'), repeat(md5(n::text), 28)
                    FROM generate_series(1, \(rows)) AS n
                    """
                )
                try await pool.query("CHECKPOINT")
                let bytes = try await pool.query("SELECT sum(pg_database_size(datname))::bigint FROM pg_database").first?.decode(Int64.self) ?? 0
                let megabytes = Double(bytes) / 1_048_576
                report.note(String(format: "cluster size %.0f MB", megabytes))
                let physical = try PhysicalBackup(pool: pool, configuration: backups, logger: logger)

                // An untimed full first: both timed ones then read the data folder from a warm cache.
                try await tool.run(["backup", "--type=full"])
                let directFull = try await timed { try await tool.run(["backup", "--type=full"]) }
                let strataFull = try await timed { _ = try await physical.create(.full) }
                emit(
                    "backup.physical_full",
                    seconds: strataFull,
                    megabytes: megabytes,
                    peer: "pgbackrest backup --type=full",
                    peerSeconds: directFull
                )

                let changed = max(1, rows / 20)
                // The change, then a checkpoint and the archiver caught up (no segment waiting in
                // archive_status), so that neither tool's timing holds the other's leftovers.
                func change(_ offset: Int) async throws {
                    try await pool.query("UPDATE public.bench_rows SET account = account + 1 WHERE id % 20 = \(offset)")
                    try await pool.query("CHECKPOINT")
                    let deadline = ContinuousClock.now + .seconds(120)
                    while ContinuousClock.now < deadline {
                        let waiting = try await pool.query("SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'").first?
                            .decode(Int64.self)
                        if waiting == 0 { break }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
                // Eight rounds, the tools in the order direct, Strata, Strata, direct, … so that
                // neither always runs on the heels of the other: the mean of each.
                var directIncremental: [Double] = []
                var strataIncremental: [Double] = []
                for round in 0..<8 {
                    try await change(round)
                    if Self.directRuns(round) {
                        directIncremental.append(try await timed { try await tool.run(["backup", "--type=incr"]) })
                    } else {
                        strataIncremental.append(try await timed { _ = try await physical.create(.incr) })
                    }
                }
                emit(
                    "backup.physical_incr",
                    seconds: Self.mean(strataIncremental),
                    megabytes: megabytes,
                    peer: "pgbackrest backup --type=incr",
                    peerSeconds: Self.mean(directIncremental)
                )
                report.note(
                    "each incremental followed an update of \(changed) rows (5 %), a checkpoint and the archiver catching up; seconds are the mean of four of each"
                )

                // An untimed restore first (the repository then read from a warm cache by every
                // timed one), then four of the newest backup, in the order direct, Strata, Strata,
                // direct: the mean of each. Strata's restore ends with the copy running, recovered
                // and promoted; the direct one is `pgbackrest restore`, then PostgreSQL started on
                // it with `pg_ctl start -w` (the repository reached through pgBackRest's
                // environment variables) until promoted, its files-only time reported beside.
                let restores = try PhysicalRestore(configuration: backups, logger: logger)
                let pgCtl = try PostgresBinaries.locate().path("pg_ctl")
                let user = try ChildProcess.User.forServers()
                var directRestores: [Double] = []
                var directFilesOnly: [Double] = []
                var strataRestores: [Double] = []
                for round in -1..<4 {
                    if round == -1 || Self.directRuns(round) {
                        let target = folder + "/direct-restore-\(round)"
                        try FileSystem.makeDirectory(target, mode: 0o700, owner: user)
                        var filesOnly = 0.0
                        let seconds = try await timed {
                            filesOnly = try await timed {
                                _ = try await tool.run(["restore", "--pg1-path=\(target)", "--archive-mode=off"], dataDirectory: target)
                            }
                            var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
                            environment.merge(PgBackRest.options(settings, dataDirectory: target)) { _, tool in tool }
                            let port = try FileSystem.freeLoopbackPort()
                            _ = try await ChildProcess.run(
                                pgCtl,
                                [
                                    "start", "-D", target, "-l", target + "/startup.log", "-w", "-t", "3600", "-s", "-o",
                                    "-p \(port) -c listen_addresses=127.0.0.1 -c unix_socket_directories=\(target) -c hot_standby=off -c archive_mode=off",
                                ],
                                environment: environment,
                                as: user
                            )
                            // `pg_ctl -w` may return before promotion: wait, as Strata does, for
                            // postmaster.pid to say `ready`.
                            let deadline = ContinuousClock.now + .seconds(600)
                            while true {
                                guard ContinuousClock.now < deadline else {
                                    throw StrataError(
                                        .internalError,
                                        "The directly restored copy was not promoted within 10 minutes; see \(target)/startup.log"
                                    )
                                }
                                if PostmasterStatus(dataDirectory: target)?.isReady == true { break }
                                try await Task.sleep(for: .milliseconds(20))
                            }
                        }
                        _ = try? await ChildProcess.run(pgCtl, ["stop", "-D", target, "-m", "immediate", "-s"], as: user)
                        try FileManager.default.removeItem(atPath: target)
                        if round >= 0 {
                            directRestores.append(seconds)
                            directFilesOnly.append(filesOnly)
                        }
                    } else {
                        var copy: PhysicalRestore.Copy?
                        strataRestores.append(try await timed { copy = try await restores.restoreSideBySide(to: .latest) })
                        if let copy { try await restores.stop(id: copy.id) }
                    }
                }
                let (directRestore, strataRestore, filesOnly) = (Self.mean(directRestores), Self.mean(strataRestores), Self.mean(directFilesOnly))
                report.emit([
                    ("workload", "backup.physical_restore"), ("seconds", strataRestore), ("mb_per_s", megabytes / strataRestore),
                    ("peer", "pgbackrest restore + pg_ctl start (recovery, promotion)"), ("peer_seconds", directRestore),
                    ("peer_mb_per_s", megabytes / directRestore), ("ratio", directRestore / strataRestore),
                    ("peer_files_only_seconds", filesOnly), ("files_only_ratio", filesOnly / strataRestore),
                ])

                var drill: BackupDrill?
                let drillSeconds = try await timed { drill = try await physical.drill(restores: restores) }
                report.emit([
                    ("workload", "backup.physical_drill"), ("seconds", drillSeconds), ("mb_per_s", megabytes / drillSeconds),
                    ("passed", drill?.passed ?? false), ("tables", drill?.tablesCompared ?? 0),
                ])

                try await disaster(cluster: cluster, pool: pool, settings: settings, restores: restores)
            }
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }

    /// The recovery point: a writer records every write PostgreSQL acknowledged; the server is
    /// killed and its data folder removed; `restore --latest --in-place` brings it back; the
    /// acknowledged writes missing are counted, with how long before the kill the oldest of them
    /// was acknowledged (bounded by `archive_timeout`).
    func disaster(cluster: EmbeddedCluster, pool: PostgresPool, settings: BackupConfiguration.Physical, restores: PhysicalRestore) async throws {
        try await pool.query("CREATE TABLE public.bench_ledger (id bigint PRIMARY KEY)")
        // The table itself archived, as a table made long before a disaster would be.
        try await PgBackRest(settings: settings, url: cluster.url).run(["check"])
        let acknowledged = Mutex<[(id: Int64, at: ContinuousClock.Instant)]>([])
        let writer = Task {
            var id: Int64 = 0
            while !Task.isCancelled {
                id += 1
                do {
                    try await pool.query("INSERT INTO public.bench_ledger (id) VALUES (\(id))")
                } catch { return }
                let now = ContinuousClock.now
                acknowledged.withLock { $0.append((id, now)) }
            }
        }
        // Longer than archive_timeout, so that segments are switched and archived meanwhile.
        try await Task.sleep(for: .seconds(Double(settings.archiveTimeoutSeconds) * 2.5))
        let killedAt = ContinuousClock.now
        kill(cluster.serverPID, SIGKILL)
        try? await Task.sleep(for: .milliseconds(300))
        writer.cancel()
        _ = await writer.value
        await cluster.stop()
        try FileManager.default.removeItem(atPath: settings.dataDirectory)
        let restoredIn = try await timed {
            _ = try await restores.restoreInPlace(to: .latest)
            var configuration = EmbeddedCluster.Configuration(directory: settings.clusterDirectory, settings: PgBackRest.archiveSettings(settings))
            configuration.startTimeout = .seconds(3600)
            let restored = try await EmbeddedCluster.start(configuration, logger: logger)
            let restoredPool = PostgresPool(url: restored.url, configuration: .init(poolSize: 1), logger: logger)
            let present = try await restoredPool.withRunning {
                Set(try await restoredPool.query("SELECT id FROM public.bench_ledger").map { try $0.decode(Int64.self) })
            }
            await restored.stop()
            let writes = acknowledged.withLock { $0 }
            let missing = writes.filter { !present.contains($0.id) }
            let oldestMissing = missing.map { ($0.at.duration(to: killedAt)).secondsDouble }.max() ?? 0
            report.emit([
                ("workload", "backup.recovery_point"), ("acknowledged", writes.count), ("missing", missing.count),
                ("oldest_missing_s", oldestMissing), ("archive_timeout_s", settings.archiveTimeoutSeconds),
            ])
        }
        report.note(String(format: "in-place restore after the disaster, recovery and promotion: %.1f s", restoredIn))
    }

    func timed(_ body: () async throws -> Void) async throws -> Double {
        let start = ContinuousClock.now
        try await body()
        return start.duration(to: .now).secondsDouble
    }

    /// Whether the direct tool runs in `round` of an interleaved comparison: the order is direct,
    /// Strata, Strata, direct, … so that neither always runs on the heels of the other.
    static func directRuns(_ round: Int) -> Bool { round % 4 == 0 || round % 4 == 3 }

    /// The mean of timings.
    static func mean(_ seconds: [Double]) -> Double { seconds.reduce(0, +) / Double(max(seconds.count, 1)) }

    func emit(_ workload: String, seconds: Double, megabytes: Double, peer: String, peerSeconds: Double) {
        report.emit([
            ("workload", workload), ("seconds", seconds), ("mb_per_s", megabytes / seconds), ("peer", peer),
            ("peer_seconds", peerSeconds), ("peer_mb_per_s", megabytes / peerSeconds), ("ratio", peerSeconds / seconds),
        ])
    }
}

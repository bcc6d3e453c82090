import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `strata backup restore --latest --in-place --yes` beside a running `strata serve`, as an
/// operator runs it: the server is stopped, its cluster restored and promoted, and the server
/// started again as it was, with every write acknowledged before the restore.
@Suite struct InPlaceRestoreProcessTests {
    let binary = BuiltProducts.path("strata")

    @Test(.timeLimit(.minutes(2)))
    func anInPlaceRestoreStopsTheServerAndStartsItAgainWithEveryAcknowledgedWrite() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: binary), "build the strata product first (swift build)")
        let home = NSTemporaryDirectory() + "strata-inplace-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let port = try FileSystem.freeLoopbackPort()
        var environment = ProcessInfo.processInfo.environment
        environment["STRATA_HOME"] = home
        environment["PORT"] = "\(port)"
        environment["DATABASE_URL"] = nil
        environment["LOG_LEVEL"] = "warning"
        environment["SHUTDOWN_DRAIN_DELAY"] = "200ms"
        let outputPath = home + "/first-serve.out"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = open(outputPath, O_WRONLY | O_APPEND | O_CLOEXEC)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let first = try ChildProcess.spawn([binary, "serve"], environment: environment, input: null, output: output, newSession: true)
        close(output)
        close(null)
        let clusterDirectory = home + "/postgres"
        var restarted: Int32?
        defer {
            // A failed test leaves no server behind (each stops its cluster when killed, by a
            // lifeline). Only a process that is still this test's `strata serve` is killed: a
            // pid that ended may already be another process's.
            for pid in [first, restarted].compactMap({ $0 }) {
                let command = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
                if command.contains("strata\0serve"), (try? String(contentsOfFile: "/proc/\(pid)/environ", encoding: .utf8))?.contains(home) == true {
                    kill(pid, SIGKILL)
                }
            }
        }
        func health() async -> Int? {
            try? await LoopbackSocket.onThread { try LoopbackSocket.get(port: port, path: "/health") }.status
        }
        func query(_ sql: String) async throws -> Int64? {
            let url = try #require(try EmbeddedCluster.runningInstance(.init(directory: clusterDirectory)))
            let pool = PostgresPool(url: url, configuration: .init(poolSize: 1, maxOverflow: 0), logger: TestPostgres.logger)
            return try await pool.withRunning { try await pool.query(PostgresQuery(unsafeSQL: sql)).first?.decode(Int64.self) }
        }
        try #require(
            try await eventually(within: .seconds(60)) { await health() == 200 },
            "strata serve answers: \((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")"
        )

        _ = try await query("CREATE TABLE public.ledger (id bigint PRIMARY KEY)")
        _ = try await query("INSERT INTO public.ledger SELECT generate_series(1, 100)")
        let created = try await ChildProcess.run(binary, ["backup", "create", "--type", "full"], environment: environment)
        #expect(created.range(of: #"full \d{8}-\d{6}F"#, options: .regularExpression) != nil, "a full backup is taken: \(created)")
        // Acknowledged after the backup: only the archived WAL has them.
        _ = try await query("INSERT INTO public.ledger SELECT generate_series(101, 250)")

        let restored = try await ChildProcess.run(binary, ["backup", "restore", "--latest", "--in-place", "--yes"], environment: environment)
        #expect(restored.contains("stopping the running strata serve (pid \(first))"), "\(restored)")
        #expect(await ChildProcess.exitCode(of: first, within: .seconds(10)) == 0, "the first server stopped cleanly")
        let holder = FileSystem.lockHolder(clusterDirectory + "/manager.lock")
        restarted = holder
        #expect(holder != nil && holder != first)
        #expect(restored.contains("strata serve is running again (pid \(holder ?? -1))"), "\(restored)")
        #expect(try await eventually(within: .seconds(60)) { await health() == 200 }, "the restarted server answers on its port")
        #expect(try await query("SELECT count(*) FROM public.ledger") == 250, "every acknowledged write is back")
        let kept = try FileManager.default.contentsOfDirectory(atPath: clusterDirectory).filter { $0.hasPrefix("data.before-restore") }
        #expect(kept.count == 1, "the replaced data folder is kept aside")

        // The restarted server stops as the first one did.
        if let holder { kill(holder, SIGTERM) }
        let released = try await eventually(within: .seconds(60)) { (try? FolderLock(folder: clusterDirectory))?.release() == true }
        #expect(released, "the restarted server stops and releases the cluster")
    }
}

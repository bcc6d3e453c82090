import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Clusters of their own (not the shared test server), in throw-away folders.
@Suite struct EmbeddedClusterTests {
    let logger = TestPostgres.logger

    func withFolder<T>(_ body: (String) async throws -> T) async throws -> T {
        let directory = NSTemporaryDirectory() + "strata-cluster-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try await body(directory)
    }

    func count(_ url: DatabaseURL) async throws -> Int {
        try await EmbeddedCluster.withConnection(to: url, logger: logger) { connection in
            try await connection.run("SELECT count(*)::int FROM public.kept", logger: logger).collect()[0].decode(Int.self)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func checksumsAreEnabledOfflineOnAClusterMadeWithout() async throws {
        try await withFolder { directory in
            var configuration = EmbeddedCluster.Configuration(directory: directory, durable: true)
            configuration.dataChecksums = false
            let first = try await EmbeddedCluster.start(configuration, logger: logger)
            try await EmbeddedCluster.withConnection(to: first.url, logger: logger) { connection in
                #expect(try await connection.run("SHOW data_checksums", logger: logger).collect().first?.decode(String.self) == "off")
                try await connection.run("CREATE TABLE public.kept (id int)", logger: logger)
                try await connection.run("INSERT INTO public.kept VALUES (1), (2), (3)", logger: logger)
            }
            await #expect(throws: StrataError.self, "refused while the cluster runs") {
                try await EmbeddedCluster.enableChecksums(directory: directory, logger: logger)
            }
            await first.stop()
            #expect(try await EmbeddedCluster.enableChecksums(directory: directory, logger: logger))
            #expect(try await EmbeddedCluster.enableChecksums(directory: directory, logger: logger) == false, "on already")
            let second = try await EmbeddedCluster.start(configuration, logger: logger)
            let checksums = try await EmbeddedCluster.withConnection(to: second.url, logger: logger) { connection in
                try await connection.run("SHOW data_checksums", logger: logger).collect().first?.decode(String.self)
            }
            #expect(checksums == "on")
            #expect(try await count(second.url) == 3)
            await second.stop()
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aNewClusterHasPageChecksumsAndItsDataSurvivesARestart() async throws {
        try await withFolder { directory in
            let first = try await EmbeddedCluster.start(.init(directory: directory, durable: true), logger: logger)
            try await EmbeddedCluster.withConnection(to: first.url, logger: logger) { connection in
                let checksums = try await connection.run("SHOW data_checksums", logger: logger).collect().first?.decode(String.self)
                #expect(checksums == "on", "a new cluster has page checksums")
                try await connection.run("CREATE TABLE public.kept (id int)", logger: logger)
                try await connection.run("INSERT INTO public.kept VALUES (1), (2)", logger: logger)
            }
            await first.stop()
            #expect(!first.isRunning)
            let second = try await EmbeddedCluster.start(.init(directory: directory, durable: true), logger: logger)
            #expect(try await count(second.url) == 2)
            await second.stop()
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aStalePidFileFromAKilledServerIsRecovered() async throws {
        try await withFolder { directory in
            // Durable: a commit is on disk before it returns, so it survives the SIGKILL.
            let first = try await EmbeddedCluster.start(.init(directory: directory, durable: true), logger: logger)
            try await EmbeddedCluster.withConnection(to: first.url, logger: logger) { connection in
                let checksums = try await connection.run("SHOW data_checksums", logger: logger).collect().first?.decode(String.self)
                #expect(checksums == "on", "a new cluster has page checksums")
                try await connection.run("CREATE TABLE public.kept (id int)", logger: logger)
            }
            kill(first.serverPID, SIGKILL)
            await first.stop()
            #expect(FileManager.default.fileExists(atPath: directory + "/data/postmaster.pid"))
            let second = try await EmbeddedCluster.start(.init(directory: directory, durable: true), logger: logger)
            #expect(try await count(second.url) == 0)
            await second.stop()
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aSecondManagerOnTheSameFolderIsRefusedAndCanAttach() async throws {
        try await withFolder { directory in
            let configuration = EmbeddedCluster.Configuration(directory: directory, durable: false)
            let first = try await EmbeddedCluster.start(configuration, logger: logger)
            await #expect {
                _ = try await EmbeddedCluster.start(configuration, logger: logger)
            } throws: { error in
                (error as? StrataError)?.message.contains("Another Strata process") == true
            }
            let attached = try #require(try EmbeddedCluster.runningInstance(configuration))
            #expect(attached.port == first.port)
            await first.stop()
            #expect(try EmbeddedCluster.runningInstance(configuration) == nil)
        }
    }

    @Test func missingServerProgramsNameThePackageToInstall() {
        #expect {
            _ = try PostgresBinaries.locate(environment: ["PATH": ""], pgConfigCandidates: [], versionedRoot: "/nonexistent")
        } throws: { error in
            let error = error as? StrataError
            return error?.code == .dependencyMissing && error?.message.contains("apt-get install -y postgresql") == true
        }
    }
}

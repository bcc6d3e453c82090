import Foundation
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `strata serve` as a user runs it: the built binary, a fresh STRATA_HOME, a real HTTP port.
@Suite struct ServeProcessTests {
    let binary = BuiltProducts.path("strata")

    func get(_ url: String) async throws -> (Int, String) {
        let output = try await ChildProcess.run("/usr/bin/curl", ["-s", "-o", "-", "-w", "\n%{http_code}", url])
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    @Test(.timeLimit(.minutes(2)))
    func servesOnAFreshHomeAndShutsDownCleanlyOnSIGTERM() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: binary), "build the strata product first (swift build)")
        let home = NSTemporaryDirectory() + "strata-serve-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        let outputPath = home + ".out"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = open(outputPath, O_WRONLY | O_APPEND | O_CLOEXEC)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        var environment = ProcessInfo.processInfo.environment
        environment["STRATA_HOME"] = home
        environment["PORT"] = "0"
        environment["SHUTDOWN_DRAIN_DELAY"] = "200ms"
        environment["DATABASE_URL"] = nil
        let pid = try ChildProcess.spawn([binary, "serve"], environment: environment, input: null, output: output, newSession: true)
        close(output)
        close(null)

        // The banner carries the URL once migrations have run and the listener is open.
        var base: String?
        let deadline = ContinuousClock.now + .seconds(60)
        while base == nil && ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            if let range = text.range(of: #"http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) { base = String(text[range]) }
            if base == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let url = try #require(base, "no banner: \((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")")

        #expect(try await get(url + "/health").0 == 200)
        let ready = try await get(url + "/ready")
        #expect(ready.0 == 200)
        #expect(ready.1.contains(#""migrations":"current""#))
        #expect(ready.1.contains(#""redis":"ok""#), "the embedded redis-server runs with serve")
        #expect(FileManager.default.fileExists(atPath: home + "/postgres/data/postmaster.pid"))

        let status = await StrataProcess.stop(pid, signal: SIGTERM)
        #expect(status == 0, "exit status \(String(describing: status)): \((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")")
        #expect(!FileManager.default.fileExists(atPath: home + "/postgres/data/postmaster.pid"), "the cluster must be stopped")
        let log = (try? String(contentsOfFile: home + "/postgres/server.log", encoding: .utf8)) ?? ""
        #expect(log.contains("database system is shut down"))
        #expect(FileManager.default.fileExists(atPath: home + "/redis/appendonlydir"), "Redis ran with AOF under STRATA_HOME")
    }
}

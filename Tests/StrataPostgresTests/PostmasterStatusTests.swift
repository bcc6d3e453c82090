import Foundation
import StrataPostgres
import Testing

/// `postmaster.pid` as PostgreSQL writes it: pid, data folder, start time, port, socket folder,
/// listen address, shared memory key, state.
@Suite struct PostmasterStatusTests {
    func status(_ text: String) throws -> PostmasterStatus? {
        let folder = NSTemporaryDirectory() + "postmaster-status-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try text.write(toFile: folder + "/postmaster.pid", atomically: true, encoding: .utf8)
        return PostmasterStatus(dataDirectory: folder)
    }

    @Test func readsThePidPortSocketAndState() throws {
        let ready = try #require(try status("4242\n/data\n1796606888\n5433\n/tmp/sock\n127.0.0.1\n  1234   5678\nready   \n"))
        #expect(ready == PostmasterStatus(pid: 4242, port: 5433, socketDirectory: "/tmp/sock", state: "ready") && ready.isReady)
        let starting = try #require(try status("4242\n/data\n1796606888\n5433\n\n127.0.0.1\n  1234   5678\nstarting\n"))
        #expect(!starting.isReady && starting.socketDirectory == nil)
        let early = try #require(try status("4242\n/data\n"))
        #expect(early.port == nil && !early.isReady)
        #expect(try status("") == nil)
        #expect(PostmasterStatus(dataDirectory: "/nonexistent-folder") == nil)
    }
}

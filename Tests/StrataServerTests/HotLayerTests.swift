import Foundation
import StrataCore
import StrataHTTP
import StrataRedis
import StrataServer
import StrataTestSupport
import Testing

@Suite struct HotLayerTests {
    @Test(.timeLimit(.minutes(1)))
    func anUnreachableRedisIsReportedButDoesNotFailReadiness() async throws {
        // A socket path nothing listens on: a "free" loopback port can be taken by another test's
        // server between the choice and the connection (it happened).
        let socket = NSTemporaryDirectory() + "strata-no-redis-\(UUID().uuidString.prefix(8)).sock"
        let configuration = try ServerConfiguration(
            environment: EnvironmentReader(["REDIS_URL": "unix://\(socket)", "REDIS_COMMAND_TIMEOUT": "100ms"])
        )
        let hotLayer = await HotLayer.open(configuration: configuration, logger: TestPostgres.logger)
        #expect(hotLayer.client != nil)
        #expect(hotLayer.embedded == nil)
        let status = try await hotLayer.readinessCheck.check()
        #expect(status.hasPrefix("unavailable"))
        await hotLayer.client?.close()
    }

    @Test func aBadRedisURLStopsTheServerAtStartNamingTheVariable() {
        #expect {
            _ = try ServerConfiguration(environment: EnvironmentReader(["REDIS_URL": "memcached://x"]))
        } throws: { error in
            (error as? StrataError)?.message.hasPrefix("REDIS_URL") == true
        }
    }
}

@Suite struct HotLayerDisabledTests {
    @Test(.timeLimit(.minutes(1)))
    func withoutARedisTheServerStartsWithTheHotLayerDisabledAndSaysWhy() async throws {
        // The embedded server cannot be had here (its folder cannot be created).
        let configuration = try ServerConfiguration(environment: EnvironmentReader(["STRATA_HOME": "/proc/strata-cannot-live-here"]))
        let hotLayer = await HotLayer.open(configuration: configuration, logger: TestPostgres.logger)
        #expect(hotLayer.client == nil && hotLayer.embedded == nil)
        let reason = try #require(hotLayer.disabledReason)
        #expect(try await hotLayer.readinessCheck.check() == "disabled: \(reason)")
        #expect(hotLayer.keeperServices.isEmpty)
    }
}

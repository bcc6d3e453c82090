import Hummingbird
import HummingbirdTesting
import StrataHTTP
import Testing

@Suite struct HealthControllerTests {
    @Test(.timeLimit(.minutes(1)))
    func aHungCheckFailsReadinessWithinItsBound() async throws {
        let hung = ReadinessCheck(name: "hung") {
            try await Task.sleep(for: .seconds(3600))
            return "never"
        }
        let fine = ReadinessCheck(name: "fine") { "ok" }
        let router = Router(context: StrataRequestContext.self)
        HealthController(readiness: Readiness(), checks: [hung, fine], checkTimeout: .milliseconds(100)) { "" }
            .addRoutes(to: router)
        let started = ContinuousClock.now
        try await Application(router: router).test(.router) { client in
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let body = String(buffer: response.body)
                #expect(body.contains(#""hung":"no answer within"#))
                #expect(body.contains(#""fine":"ok""#))
            }
        }
        #expect(started.duration(to: .now) < .seconds(10))
    }
}

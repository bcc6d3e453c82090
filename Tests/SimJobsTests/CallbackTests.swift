import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import StrataCore
import StrataEvents
import StrataHTTP
import StrataPostgres
import StrataSecurity
import StrataTestSupport
import Synchronization
import Testing

@testable import SimJobs

/// Task callbacks end to end: a real HTTP receiver on loopback gets the subscribed events,
/// signed per Standard Webhooks, retried after a failure with the same id, and a receiver that
/// always fails ends with a discarded job kept for inspection.
@Suite struct CallbackTests {
    struct Delivery: Sendable {
        var path: String
        var id: String
        var timestamp: String
        var signature: String
        var body: [UInt8]
        var answered: Int
    }

    /// A receiver on a free loopback port: `/hook` fails the first `task.created` it gets, then
    /// accepts (deliveries run concurrently, so "its first request" could be any event);
    /// `/broken` always fails.
    final class Receiver: Sendable {
        let deliveries = Mutex<[Delivery]>([])
        let port = Mutex<Int?>(nil)

        func application() -> some ApplicationProtocol {
            let router = Router()
            let record: @Sendable (Request, String) async throws -> Response = { request, path in
                let body = try await request.body.collect(upTo: 1 << 20)
                let isCreated = { (bytes: [UInt8]) in
                    (try? JSONValue(parsing: String(decoding: bytes, as: UTF8.self)))?["type"]?.stringValue == "task.created"
                }
                let answered = self.deliveries.withLock { deliveries -> Int in
                    let failFirst =
                        path == "hook" && isCreated(Array(buffer: body))
                        && !deliveries.contains { $0.path == "hook" && isCreated($0.body) }
                    let status = path == "broken" || failFirst ? 500 : 204
                    deliveries.append(
                        Delivery(
                            path: path,
                            id: request.headers[HTTPField.Name("webhook-id")!] ?? "",
                            timestamp: request.headers[HTTPField.Name("webhook-timestamp")!] ?? "",
                            signature: request.headers[HTTPField.Name("webhook-signature")!] ?? "",
                            body: Array(buffer: body),
                            answered: status
                        )
                    )
                    return status
                }
                return Response(status: .init(code: answered))
            }
            router.post("hook") { request, _ in try await record(request, "hook") }
            router.post("broken") { request, _ in try await record(request, "broken") }
            return Application(
                router: router,
                configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { channel in self.port.withLock { $0 = channel.localAddress?.port } }
            )
        }
    }

    /// The receiver listens on loopback, which only an explicit allowance lets webhooks reach.
    static let loopback = OutboundAddressPolicy(allowed: [IPNetwork("127.0.0.0/8")!])

    /// Starts the receiver and returns its base URL once it listens.
    func baseURL(of receiver: Receiver) async throws -> String {
        _ = try await eventually { receiver.port.withLock { $0 } != nil }
        return "http://127.0.0.1:\(try #require(receiver.port.withLock { $0 }))"
    }

    /// What a receiver does with the secret it was given: HMAC-SHA256 over id.timestamp.body.
    func verify(_ delivery: Delivery, secretBytes: [UInt8]) -> Bool {
        let content = Array("\(delivery.id).\(delivery.timestamp).".utf8) + delivery.body
        let expected = "v1," + Data(HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: secretBytes))).base64EncodedString()
        return delivery.signature.split(separator: " ").contains { $0 == expected }
    }

    func taskScript() throws -> CommandTemplate {
        try CommandTemplate(try writeTaskScript("cat > /dev/null\necho '{\"result_data\":{\"ok\":true}}'"))
    }

    @Test(.timeLimit(.minutes(1)))
    func subscribedEventsArriveSignedAndRetriedAndABrokenReceiverEndsDiscarded() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let pool = database.pool
            let secrets = SecretBox.ephemeral()
            let secretBytes = (0..<24).map { _ in UInt8.random(in: 0...255) }
            let secret = "whsec_" + Data(secretBytes).base64EncodedString()
            let receiver = Receiver()
            let runner = TaskRunner(
                pool: pool,
                configuration: .init(gpus: [0], command: try taskScript(), name: "callback-worker", pollInterval: .milliseconds(100)),
                logger: TestPostgres.logger
            )
            let webhooks = WebhookDelivery.worker(
                pool: pool,
                secrets: secrets,
                policy: Self.loopback,
                firstRetry: .milliseconds(100),
                logger: TestPostgres.logger
            )
            let services: [any Service] = [receiver.application(), runner.worker(), webhooks]
            try await withRunningServices(services, logger: TestPostgres.logger) {
                let base = try await baseURL(of: receiver)
                let service = TaskService(pool: pool, secrets: secrets, outbound: Self.loopback)
                let task = try await service.submit(
                    [
                        TaskService.Submission(
                            modelName: "mace-mp-0-medium",
                            structureName: "MOF-5",
                            callbackURL: base + "/hook",
                            callbackEvents: ["task.created", "task.completed"],
                            callbackSecret: secret
                        )
                    ],
                    type: .singlePointEnergy,
                    by: .job("tester")
                )[0]
                let broken = try await service.submit(
                    [
                        TaskService.Submission(
                            modelName: "mace-mp-0-medium",
                            structureName: "MOF-5",
                            callbackURL: base + "/broken",
                            callbackSecret: secret
                        )
                    ],
                    type: .singlePointEnergy,
                    by: .job("tester")
                )[0]

                func accepted() -> [Delivery] { receiver.deliveries.withLock { $0.filter { $0.path == "hook" && $0.answered == 204 } } }
                #expect(try await eventually { accepted().count >= 2 })
                let hook = receiver.deliveries.withLock { $0.filter { $0.path == "hook" } }
                #expect(hook.count == 3, "created (refused, then retried) and completed; started was not subscribed")
                #expect(hook.allSatisfy { verify($0, secretBytes: secretBytes) }, "every request verifies with the receiver's secret")
                func type(_ delivery: Delivery) throws -> String? {
                    try JSONValue(parsing: String(decoding: delivery.body, as: UTF8.self))["type"]?.stringValue
                }
                // Deliveries are not ordered: the refused task.created is retried after its delay.
                let created = try hook.filter { try type($0) == "task.created" }
                let completed = try hook.filter { try type($0) == "task.completed" }
                #expect(created.map(\.answered) == [500, 204] && completed.map(\.answered) == [204])
                #expect(created.count == 2 && created[0].id == created[1].id, "a retry keeps its webhook-id")
                #expect(created.first?.id != completed.first?.id)
                let data = try JSONValue(parsing: String(decoding: try #require(completed.first).body, as: UTF8.self))["data"]
                #expect(data?["id"]?.stringValue?.lowercased() == task.id.uuidString.lowercased())
                #expect(data?["status"]?.stringValue == "COMPLETED")

                // A receiver that always fails: one attempt and three retries, then kept.
                let discarded = "SELECT count(*) FROM strata.jobs WHERE queue = 'webhooks' AND state = 'discarded' AND attempt = 4"
                _ = try await eventually { try await pool.query(PostgresQuery(unsafeSQL: discarded)).first?.decode(Int64.self) == 3 }
                let brokenCalls = receiver.deliveries.withLock { $0.filter { $0.path == "broken" } }
                #expect(brokenCalls.count == 12, "three events of \(broken.id) (created, started, completed), four attempts each")
                #expect(try await pool.query(PostgresQuery(unsafeSQL: discarded)).first?.decode(Int64.self) == 3)
            }

            // The secret is stored sealed, never in clear, and no task read carries it.
            let stored = try await pool.query("SELECT string_agg(sealed_secret, ' ') FROM simjobs.task_callbacks").first?.decode(String.self) ?? ""
            #expect(!stored.contains(secret) && stored.hasPrefix("v1."))
            let jobArgs = try await pool.query("SELECT string_agg(args::text, ' ') FROM strata.jobs").first?.decode(String.self) ?? ""
            #expect(!jobArgs.contains(secret))
        }
    }

    @Test func callbackFieldsAreCheckedTogether() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let service = TaskService(pool: database.pool, secrets: .ephemeral())
            func refusal(_ submission: TaskService.Submission) async -> [String] {
                do {
                    _ = try await service.submit([submission], type: .optimization, by: .job("tester"))
                    return []
                } catch let error as StrataError {
                    return error.fieldErrors.map(\.field)
                } catch {
                    return ["unexpected"]
                }
            }
            let base = TaskService.Submission(modelName: "mace-mp-0-medium", structureName: "MOF-5")
            var noSecret = base
            noSecret.callbackURL = "https://example.test/hook"
            #expect(await refusal(noSecret) == ["callback_secret"])
            var badURL = base
            badURL.callbackURL = "file:///etc/passwd"
            badURL.callbackSecret = String(repeating: "s", count: 20)
            #expect(await refusal(badURL) == ["callback_url"])
            var badEvent = noSecret
            badEvent.callbackSecret = String(repeating: "s", count: 20)
            badEvent.callbackEvents = ["task.exploded"]
            #expect(await refusal(badEvent) == ["callback_events"])
            var orphanSecret = base
            orphanSecret.callbackSecret = String(repeating: "s", count: 20)
            #expect(await refusal(orphanSecret) == ["callback_url"])
            for refusedURL in [
                "http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:6379/", "http://localhost/hook", "http://[::1]/hook",
                "http://10.0.0.7/hook", "http://[::ffff:192.168.1.1]/hook", "https://user:pass@example.test/hook",
            ] {
                var refused = badURL
                refused.callbackURL = refusedURL
                #expect(await refusal(refused) == ["callback_url"], "\(refusedURL)")
            }
            let tasks = try await database.pool.query("SELECT count(*) FROM simjobs.tasks").first?.decode(Int64.self)
            #expect(tasks == 0)
        }
    }

    /// A URL that passed at submission (the submitting server allowed loopback) is checked again
    /// by the deliverer under its own policy: refused there, the job is discarded at its first
    /// attempt and the receiver never hears of it.
    @Test(.timeLimit(.minutes(1)))
    func theDelivererRefusesAddressesItsPolicyDoesNotAllowWithoutRetrying() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let pool = database.pool
            let secrets = SecretBox.ephemeral()
            let receiver = Receiver()
            let webhooks = WebhookDelivery.worker(pool: pool, secrets: secrets, firstRetry: .milliseconds(50), logger: TestPostgres.logger)
            try await withRunningServices([receiver.application(), webhooks], logger: TestPostgres.logger) {
                let base = try await baseURL(of: receiver)
                let service = TaskService(pool: pool, secrets: secrets, outbound: Self.loopback)
                _ = try await service.submit(
                    [
                        TaskService.Submission(
                            modelName: "mace-mp-0-medium",
                            structureName: "MOF-5",
                            callbackURL: base + "/hook",
                            callbackEvents: ["task.created"],
                            callbackSecret: String(repeating: "s", count: 24)
                        )
                    ],
                    type: .optimization,
                    by: .job("tester")
                )
                let ended = "SELECT attempt, errors::text FROM strata.jobs WHERE queue = 'webhooks' AND state = 'discarded'"
                _ = try await eventually { try await !pool.query(PostgresQuery(unsafeSQL: ended)).isEmpty }
                let row = try await pool.query(PostgresQuery(unsafeSQL: ended)).first?.decode((Int32, String).self)
                let (attempt, errors) = try #require(row)
                #expect(attempt == 1, "refused by policy: not retried")
                #expect(errors.contains("not a public address"))
                #expect(receiver.deliveries.withLock { $0.isEmpty })
            }
        }
    }
}

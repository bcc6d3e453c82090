import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle
import StrataCore
import StrataPostgres
import StrataServer
import StrataTestSupport
import Synchronization
import Testing

@testable import StrataEvents

/// The guard against server-side request forgery: which addresses webhooks may reach.
@Suite struct OutboundAddressPolicyTests {
    func bytes(_ text: String) throws -> [UInt8] { try #require(IPNetwork.address(text)) }

    @Test func networksParseAndContainTheirAddresses() throws {
        let network = try #require(IPNetwork("172.16.0.0/12"))
        #expect(network.contains(try bytes("172.31.255.1")))
        #expect(!network.contains(try bytes("172.32.0.1")))
        #expect(IPNetwork("10.0.0.1")?.prefix == 32)
        #expect(IPNetwork("fd00::/8")?.contains(try bytes("fdab::1")) == true)
        #expect(IPNetwork("10.0.0.0/33") == nil && IPNetwork("host.example/8") == nil && IPNetwork("") == nil)
        #expect(try bytes("::ffff:10.1.2.3") == [10, 1, 2, 3], "an IPv4-mapped address is its IPv4 host")
    }

    @Test func onlyPublicAddressesPassByDefault() throws {
        let policy = OutboundAddressPolicy.publicOnly
        for refused in [
            "127.0.0.1", "10.20.30.40", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1",
            "::1", "::", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe",
        ] {
            #expect(policy.refusal(of: try bytes(refused)) != nil, "\(refused)")
        }
        for allowed in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] {
            #expect(policy.refusal(of: try bytes(allowed)) == nil, "\(allowed)")
        }
    }

    @Test func allowedNetworksOpenAndDeniedNetworksClose() throws {
        let policy = OutboundAddressPolicy(allowed: [IPNetwork("10.1.0.0/16")!], denied: [IPNetwork("8.8.8.0/24")!])
        #expect(policy.refusal(of: try bytes("10.1.2.3")) == nil)
        #expect(policy.refusal(of: try bytes("10.2.0.1")) != nil)
        #expect(policy.refusal(of: try bytes("8.8.8.8"))?.contains("denied") == true)
        let environment = EnvironmentReader(["WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8, 127.0.0.1", "WEBHOOK_DENIED_NETWORKS": "203.0.113.9"])
        let configured = try OutboundAddressPolicy(environment: environment)
        #expect(configured.allowed.count == 2 && configured.denied.count == 1)
        #expect(throws: StrataError.self) { try OutboundAddressPolicy(environment: EnvironmentReader(["WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/40"])) }
    }

    @Test func urlsAreCheckedAsWrittenAndAsResolved() async throws {
        let policy = OutboundAddressPolicy.publicOnly
        #expect(policy.problem(with: "https://hooks.example.com/x") == nil)
        #expect(policy.problem(with: "ftp://hooks.example.com/x") != nil)
        #expect(policy.problem(with: "http://LOCALHOST./x") != nil)
        #expect(policy.problem(with: "http://[::1]:8080/x") != nil)
        #expect(policy.problem(with: "http://u:p@hooks.example.com/x") != nil)
        // Names are judged by what they resolve to: `localhost` by name, and a decimal-encoded
        // 127.0.0.1 that only the resolver understands.
        for url in ["http://2130706433/x", "http://127.1/x", "http://localhost:1/x"] {
            await #expect(throws: StrataError.self, "\(url)") { try await policy.check(url) }
        }
        let loopback = OutboundAddressPolicy(allowed: [IPNetwork("127.0.0.0/8")!, IPNetwork("::1")!])
        try await loopback.check("http://localhost:1/x")
        try await loopback.check("http://127.0.0.1:1/x")
    }

    @Test func aCheckReturnsTheAddressItJudged() async throws {
        let policy = OutboundAddressPolicy(resolver: { _ in
            [[93, 184, 215, 14], [0x26, 0x06, 0x28, 0x00, 0x02, 0x1F] + Array(repeating: 0, count: 9) + [1]]
        })
        #expect(try await policy.check("https://hooks.example.com/x") == OutboundTarget(host: "hooks.example.com", address: "93.184.215.14"))
        #expect(try await policy.check("https://8.8.8.8/x") == OutboundTarget(host: "8.8.8.8", address: nil))
        let sixFirst = OutboundAddressPolicy(resolver: { _ in [[0x26, 0x06, 0x47, 0x00] + Array(repeating: 0, count: 11) + [0x11]] })
        #expect(try await sixFirst.check("https://hooks.example.com/x").address == "2606:4700::11")
        // One refused address among the answers refuses the name.
        let mixed = OutboundAddressPolicy(resolver: { _ in [[93, 184, 215, 14], [10, 0, 0, 7]] })
        await #expect(throws: StrataError.self) { try await mixed.check("https://hooks.example.com/x") }
        let nothing = OutboundAddressPolicy(resolver: { _ in [] })
        await #expect(throws: StrataError.self) { try await nothing.check("https://hooks.example.com/x") }
    }

    /// DNS rebinding: a name answers an allowed address when checked and a refused one after.
    /// The delivery connects to the address that was checked and never asks again; the name
    /// (under `.invalid`, which no real resolver answers) still goes in `Host`.
    @Test(.timeLimit(.minutes(1)))
    func aWebhookGoesToTheAddressThatWasCheckedNotToALaterAnswer() async throws {
        let lookups = Mutex(0)
        let policy = OutboundAddressPolicy(allowed: [IPNetwork("127.0.0.0/8")!]) { _ in
            lookups.withLock { count in
                count += 1
                return count == 1 ? [[127, 0, 0, 1]] : [[169, 254, 169, 254]]
            }
        }
        let hosts = Mutex<[String]>([])
        let port = Mutex<Int?>(nil)
        let router = Router()
        router.post("hook") { request, _ -> Response in
            _ = try await request.body.collect(upTo: 1 << 20)
            hosts.withLock { $0.append(request.head.authority ?? "") }
            return Response(status: .noContent)
        }
        let receiver = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } },
            logger: Logger(label: "receiver")
        )
        try await withRunningServices([receiver], logger: Logger(label: "test")) {
            #expect(try await eventually { port.withLock { $0 } != nil })
            let listening = try #require(port.withLock { $0 })
            let url = "http://hooks.rebinding.invalid:\(listening)/hook"
            let target = try await policy.check(url)
            #expect(target == OutboundTarget(host: "hooks.rebinding.invalid", address: "127.0.0.1"))
            let message = WebhookMessage(type: "task.completed", url: url, dataJSON: "{}", sealedSecret: "")
            try await WebhookDelivery.send(message, secret: "whsec_c2VjcmV0", to: target, timeout: .seconds(10))
            #expect(hosts.withLock { $0 } == ["hooks.rebinding.invalid:\(listening)"])
            #expect(lookups.withLock { $0 } == 1, "the delivery did not resolve the name again")
            await #expect(throws: StrataError.self, "the next check sees the new answer and refuses it") { try await policy.check(url) }
        }
    }
}

/// The deliverer's clients: one per checked target, shared while it answers the same, bounded.
@Suite struct PinnedClientsTests {
    /// The client a target is given (kept referenced, so that identities are never reused).
    func client(_ clients: PinnedClients, _ target: OutboundTarget) async throws -> any AnyObject & Sendable {
        try await clients.withClient(for: target) { $0 }
    }

    @Test func aTargetKeepsItsClientANewAnswerGetsItsOwnAndIdleOnesPastCapacityGo() async throws {
        let clients = PinnedClients(capacity: 2)
        let first = OutboundTarget(host: "hooks.example.com", address: "93.184.215.14")
        let moved = OutboundTarget(host: "hooks.example.com", address: "93.184.215.15")
        let other = OutboundTarget(host: "other.example.com", address: "93.184.215.16")
        let original = try await client(clients, first)
        #expect(try await client(clients, first) === original, "the same target shares its client")
        #expect(try await client(clients, moved) !== original, "a new answer gets a client of its own")
        #expect(clients.count == 2)
        _ = try await client(clients, other)
        #expect(clients.count == 2, "past capacity, the least recently used idle client went")
        #expect(try await client(clients, first) !== original, "the evicted target gets a new client")

        // A client in use is never shut down, however many others come and go meanwhile.
        let busy = try await clients.withClient(for: other) { busy -> any AnyObject & Sendable in
            for index in 0..<4 { _ = try await client(clients, OutboundTarget(host: "h\(index).example.com", address: "93.184.215.\(index)")) }
            #expect(clients.count == 2, "the one in use and the newest idle one")
            return busy
        }
        #expect(try await client(clients, other) === busy)
        await clients.shutdown()
        #expect(clients.count == 0)
    }
}

import Foundation
import StrataCore
import StrataRedis
import StrataTestSupport
import Testing

@Suite struct RedisSubscriptionTests {
    @Test(.timeLimit(.minutes(1)))
    func subscribersReceiveWhatIsPublishedInOrderAndTheStreamEndsOnClose() async throws {
        try await withTestRedis { redis, prefix in
            let channel = prefix + "news"
            let subscription = try await redis.subscribe(to: [channel, prefix + "other"])
            #expect(try await redis.publish("one", to: channel) == 1)
            for n in 2...200 { try await redis.publish("\(n)", to: channel) }
            var received: [String] = []
            for await message in subscription.messages {
                #expect(message.channel == channel)
                received.append(message.text)
                if received.count == 200 { break }
            }
            #expect(received == ["one"] + (2...200).map { "\($0)" })
            // Commands keep working on the shared client meanwhile.
            #expect(try await redis.publish("x", to: prefix + "nobody") == 0)
            await subscription.close()
            var after = 0
            for await _ in subscription.messages { after += 1 }  // ends at once
            #expect(after == 0)
            // The server forgets the subscriber once it sees the connection close.
            var subscribers = 1
            var last = RESPValue.null
            for _ in 0..<500 where subscribers > 0 {
                last = try await redis.send("PUBSUB", "NUMSUB", channel)
                guard case .array(let reply) = last, reply.count == 2 else { break }
                subscribers = Int(reply[1].integer ?? -1)
                if subscribers > 0 { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(subscribers == 0, "PUBSUB NUMSUB said \(last)")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func subscribingToNothingIsRefused() async throws {
        _ = try await withTestRedis { redis, _ in
            await #expect(throws: StrataError.self) { _ = try await redis.subscribe(to: []) }
        }
    }
}

@Suite struct RedisAuthenticationTests {
    @Test(.timeLimit(.minutes(1)))
    func aPasswordProtectedServerAcceptsTheRightPasswordOnly() async throws {
        let directory = NSTemporaryDirectory() + "strata-auth-redis-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await EmbeddedRedis.start(
            .init(directory: directory, appendOnly: false, password: "s3cret \"quoted\""),
            logger: TestPostgres.logger
        )
        let good = RedisClient(
            configuration: .init(url: server.url, commandTimeout: .seconds(10), connectTimeout: .seconds(10)),
            logger: TestPostgres.logger
        )
        try await good.set("k", to: "v")
        #expect(try await good.getString("k") == "v")
        await good.close()

        var wrongURL = server.url
        wrongURL.password = "wrong"
        let bad = RedisClient(
            configuration: .init(url: wrongURL, commandTimeout: .seconds(10), connectTimeout: .seconds(10)),
            logger: TestPostgres.logger
        )
        let error = await #expect(throws: StrataError.self) { try await bad.ping() }
        #expect(error?.code == .redisUnavailable)
        #expect(error?.message.contains("wrong") == false)
        await bad.close()

        var noPassword = server.url
        noPassword.password = nil
        let anonymous = RedisClient(
            configuration: .init(url: noPassword, commandTimeout: .seconds(10), connectTimeout: .seconds(10)),
            logger: TestPostgres.logger
        )
        await #expect(throws: StrataError.self) { try await anonymous.set("k", to: "w") }
        await anonymous.close()
        await server.stop()
    }
}

import StrataCore
import StrataRedis
import StrataTestSupport
import Testing

@Suite struct PubSubTests {
    @Test(.timeLimit(.minutes(1)))
    func subscribersReceivePublishedMessagesInOrder() async throws {
        try await withTestRedis { redis, prefix in
            let channel = prefix + "tickets"
            let subscription = try await redis.subscribe(to: [channel])
            for n in 0..<20 {
                #expect(try await redis.publish("message \(n)", to: channel) == 1)
            }
            var received: [String] = []
            for await message in subscription.messages {
                #expect(message.channel == channel)
                received.append(message.text)
                if received.count == 20 { break }
            }
            #expect(received == (0..<20).map { "message \($0)" })
            await subscription.close()
            // The server drops the subscriber once it has seen the connection close.
            var subscribers = 1
            let deadline = ContinuousClock.now + .seconds(5)
            while subscribers > 0 && ContinuousClock.now < deadline {
                subscribers = try await redis.publish("after close", to: channel)
            }
            #expect(subscribers == 0)
        }
    }
}

import StrataCore
import StrataRedis
import StrataTestSupport
import Testing

@Suite struct SessionStoreTests {
    struct Session: Codable, Sendable, Equatable {
        var customer: String
        var messages: [String]
    }

    @Test(.timeLimit(.minutes(1)))
    func readsSlideTheTimeToLive() async throws {
        try await withTestRedis { redis, prefix in
            let store = SessionStore<Session>(redis: redis, name: prefix + "chat")
            let session = Session(customer: "c-1", messages: ["hello"])
            try await store.put("s-1", session)
            let initial = try #require(try await store.timeToLive("s-1"))
            #expect(initial > .seconds(86_000) && initial <= .seconds(86_400))
            // Age the session on the server, then read it: the read restores the full day.
            try await redis.expire("strata:session:\(prefix)chat:s-1", after: .seconds(5))
            #expect(try await store.get("s-1") == session)
            let refreshed = try #require(try await store.timeToLive("s-1"))
            #expect(refreshed > .seconds(86_000))
            #expect(try await store.remove("s-1"))
            #expect(try await store.get("s-1") == nil)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func anIdleSessionExpiresByItself() async throws {
        try await withTestRedis { redis, prefix in
            let store = SessionStore<Session>(redis: redis, name: prefix + "chat", ttl: .milliseconds(50))
            try await store.put("idle", Session(customer: "c-2", messages: []))
            var gone = false
            let deadline = ContinuousClock.now + .seconds(5)
            while !gone && ContinuousClock.now < deadline {
                gone = try await store.timeToLive("idle") == nil
            }
            #expect(gone)
            #expect(try await store.get("idle") == nil)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aValueOfTheWrongShapeIsAnErrorNotACrash() async throws {
        try await withTestRedis { redis, prefix in
            try await redis.set("strata:session:\(prefix)chat:bad", to: "{not json")
            let store = SessionStore<Session>(redis: redis, name: prefix + "chat")
            await #expect {
                _ = try await store.get("bad")
            } throws: { error in
                (error as? StrataError)?.code == .invalidValue
            }
        }
    }
}

import StrataCore
import StrataRedis
import StrataTestSupport
import Testing

@Suite struct StreamsTests {
    @Test(.timeLimit(.minutes(1)))
    func consumerGroupsDeliverAcknowledgeAndReclaim() async throws {
        try await withTestRedis { redis, prefix in
            let stream = prefix + "events"
            try await redis.streamCreateGroup(stream, group: "relay", startAt: "0")
            try await redis.streamCreateGroup(stream, group: "relay", startAt: "0")  // already there: fine
            var ids: [String] = []
            for n in 0..<5 {
                ids.append(try await redis.streamAdd(stream, [("event", "ticket.created"), ("n", "\(n)")]))
            }
            #expect(try await redis.streamRange(stream).map(\.id) == ids)

            let first = try await redis.streamReadGroup(stream, group: "relay", consumer: "a", count: 3)
            #expect(first.map { $0["n"] } == ["0", "1", "2"])
            #expect(try await redis.streamAcknowledge(stream, group: "relay", ids: [first[0].id]) == 1)

            // Consumer a stalls; b reclaims what a read but did not acknowledge.
            let claimed = try await redis.streamAutoClaim(stream, group: "relay", consumer: "b", minimumIdle: .zero)
            #expect(claimed.entries.map { $0["n"] } == ["1", "2"])
            let rest = try await redis.streamReadGroup(stream, group: "relay", consumer: "b", count: 10)
            #expect(rest.map { $0["n"] } == ["3", "4"])
            #expect(try await redis.streamReadGroup(stream, group: "relay", consumer: "b", count: 10, block: .milliseconds(50)).isEmpty)
            // b's pending list holds what it claimed and read.
            let pending = try await redis.streamReadGroup(stream, group: "relay", consumer: "b", count: 10, id: "0")
            #expect(pending.map { $0["n"] } == ["1", "2", "3", "4"])
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func trimmingKeepsAboutTheRequestedLength() async throws {
        try await withTestRedis { redis, prefix in
            let stream = prefix + "trimmed"
            for n in 0..<1_000 { try await redis.streamAdd(stream, [("n", "\(n)")], approximateMaximumLength: 100) }
            let length = try #require(try await redis.send("XLEN", stream).integer)
            #expect(length >= 100 && length < 300)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aBlockingReadWaitsForTheNextEntry() async throws {
        try await withTestRedis { redis, prefix in
            let stream = prefix + "live"
            try await redis.streamCreateGroup(stream, group: "g")
            async let waiting = redis.streamReadGroup(stream, group: "g", consumer: "c", count: 1, block: .seconds(5))
            try await Task.sleep(for: .milliseconds(100))
            try await redis.streamAdd(stream, [("event", "late")])
            let delivered = try await waiting
            #expect(delivered.map { $0["event"] } == ["late"])
        }
    }
}

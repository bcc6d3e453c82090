import Foundation
import StrataCore
import StrataTestSupport
import Testing

@testable import StrataRedis

@Suite struct RedisClientTests {
    @Test(.timeLimit(.minutes(1)))
    func typedCommandsAgainstARealServer() async throws {
        try await withTestRedis { redis, prefix in
            try await redis.ping()
            let binary: [UInt8] = [0, 13, 10, 255, 42]
            #expect(try await redis.set(prefix + "bin", to: binary))
            #expect(try await redis.get(prefix + "bin") == binary)
            #expect(try await redis.get(prefix + "missing") == nil)
            #expect(try await !redis.set(prefix + "bin", to: "other", condition: .ifAbsent))
            #expect(try await redis.set(prefix + "bin", to: "other", condition: .ifPresent))
            #expect(try await !redis.set(prefix + "absent", to: "x", condition: .ifPresent))
            try await redis.set(prefix + "ttl", to: "x", expiration: .seconds(60))
            let ttl = try #require(try await redis.timeToLive(prefix + "ttl"))
            #expect(ttl > .seconds(50) && ttl <= .seconds(60))
            #expect(try await redis.timeToLive(prefix + "bin") == nil)
            #expect(try await redis.mget([prefix + "bin", prefix + "missing"]) == [Array("other".utf8), nil])
            #expect(try await redis.increment(prefix + "counter") == 1)
            #expect(try await redis.increment(prefix + "counter") == 2)
            try await redis.hashSet(prefix + "hash", ["a": "1", "b": "2"])
            #expect(try await redis.hashGetAll(prefix + "hash") == ["a": "1", "b": "2"])
            #expect(try await redis.hashDelete(prefix + "hash", ["a", "missing"]) == 1)
            #expect(try await redis.hashGetAll(prefix + "hash") == ["b": "2"])
            #expect(try await redis.delete(prefix + "bin", prefix + "counter", prefix + "nothing") == 2)
            await #expect {
                try await redis.send("NOSUCHCOMMAND", "x")
            } throws: { error in
                (error as? StrataError)?.code == .redisCommandFailed
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func connectionsSpeakRESP3() async throws {
        let url = try await TestRedis.shared.url
        let connection = try await RedisConnection.connect(to: url, logger: TestPostgres.logger)
        #expect(connection.protocolVersion == 3)
        await connection.close()
    }

    @Test(.timeLimit(.minutes(1)))
    func repliesMatchTheirCommandsUnderAHundredConcurrentCallers() async throws {
        try await withTestRedis(connections: 1) { redis, prefix in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<100 {
                    group.addTask {
                        for round in 0..<20 {
                            let key = prefix + "caller:\(caller)"
                            let value = "\(caller)-\(round)"
                            try await redis.set(key, to: value)
                            let read = try await redis.getString(key)
                            #expect(read == value)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aTimedOutCommandNeverHandsItsLateReplyToTheNextCommand() async throws {
        let url = try await TestRedis.shared.url
        let connection = try await RedisConnection.connect(to: url, logger: TestPostgres.logger)
        defer { Task { await connection.close() } }
        let list = "test:blocking:\(UUID().uuidString)"
        await #expect {
            // The server answers after 1 s; the client gives up after 100 ms.
            _ = try await connection.send([Array("BLPOP".utf8), Array(list.utf8), Array("1".utf8)], timeout: .milliseconds(100))
        } throws: { error in
            (error as? StrataError)?.code == .redisTimeout
        }
        // The next reply on the same connection is PING's, not BLPOP's late null.
        let reply = try await connection.send([Array("PING".utf8)], timeout: .seconds(5))
        #expect(reply == .simpleString("PONG"))
    }

    @Test(.timeLimit(.minutes(1)))
    func theBreakerFailsFastWhileRedisIsUnreachable() async throws {
        let port = try FileSystem.freeLoopbackPort()
        let redis = RedisClient(
            configuration: .init(url: RedisURL(address: .tcp(host: "127.0.0.1", port: port)), failureThreshold: 2, openDuration: .seconds(30)),
            logger: TestPostgres.logger
        )
        for _ in 0..<2 {
            await #expect(throws: StrataError.self) { try await redis.ping() }
        }
        #expect(redis.breakerState == .open)
        let started = ContinuousClock.now
        await #expect {
            try await redis.ping()
        } throws: { error in
            (error as? StrataError)?.code == .redisUnavailable && (error as? StrataError)?.message.contains("circuit open") == true
        }
        #expect(started.duration(to: .now) < .milliseconds(500), "no connection attempt")
        await redis.close()
    }

    @Test(.timeLimit(.minutes(2)))
    func callsFailWhileRedisIsDownAndRecoverWhenItIsBack() async throws {
        let directory = NSTemporaryDirectory() + "strata-redis-restart-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await EmbeddedRedis.start(.init(directory: directory), logger: TestPostgres.logger)
        let redis = RedisClient(
            // Generous timeouts: a stopped server refuses at once, and a loaded machine must not
            // turn a slow answer into a failure.
            configuration: .init(
                url: first.url,
                commandTimeout: .seconds(10),
                connectTimeout: .seconds(10),
                failureThreshold: 2,
                openDuration: .milliseconds(200)
            ),
            logger: TestPostgres.logger
        )
        try await redis.set("kept", to: "across a restart")
        await first.stop()
        await #expect(throws: StrataError.self) { try await redis.ping() }

        let second = try await EmbeddedRedis.start(.init(directory: directory), logger: TestPostgres.logger)
        #expect(second.url == first.url, "the socket path is stable across restarts")
        var recovered = false
        let deadline = ContinuousClock.now + .seconds(20)
        while !recovered && ContinuousClock.now < deadline {
            do {
                try await redis.ping()
                recovered = true
            } catch {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(recovered)
        #expect(redis.breakerState == .closed)
        #expect(try await redis.getString("kept") == "across a restart")
        await redis.close()
        await second.stop()
    }
}

@Suite struct EmbeddedRedisTests {
    @Test(.timeLimit(.minutes(2)))
    func aRestartedServerIsReadyOnlyAfterLoadingItsAppendOnlyFile() async throws {
        let directory = NSTemporaryDirectory() + "strata-redis-aof-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await EmbeddedRedis.start(.init(directory: directory), logger: TestPostgres.logger)
        let writer = RedisClient(configuration: .init(url: first.url, connections: 4, commandTimeout: .seconds(5)), logger: TestPostgres.logger)
        // Enough data that loading the append-only file takes a moment.
        let value = [UInt8](repeating: 120, count: 512)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for index in 0..<5_000 { try await writer.set("aof:\(worker):\(index)", to: value) }
                }
            }
            try await group.waitForAll()
        }
        await writer.close()
        await first.stop()

        let second = try await EmbeddedRedis.start(.init(directory: directory), logger: TestPostgres.logger)
        let reader = RedisClient(configuration: .init(url: second.url, commandTimeout: .seconds(5)), logger: TestPostgres.logger)
        // The very first data command after start must not meet LOADING.
        #expect(try await reader.get("aof:7:4999") == value)
        await reader.close()
        await second.stop()
    }
}

@Suite struct RedisScriptTests {
    static let compareAndDelete = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """
    )

    @Test(.timeLimit(.minutes(1)))
    func scriptsAreLoadedOnFirstUseAndAfterAFlush() async throws {
        try await withTestRedis { redis, prefix in
            let key = prefix + "lock"
            try await redis.set(key, to: "token-a")
            #expect(try await redis.run(Self.compareAndDelete, keys: [key], arguments: ["token-b"]) == .integer(0))
            #expect(try await redis.getString(key) == "token-a")
            try await redis.send("SCRIPT", "FLUSH")
            #expect(try await redis.run(Self.compareAndDelete, keys: [key], arguments: ["token-a"]) == .integer(1))
            #expect(try await redis.get(key) == nil)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func scriptsKeepWorkingWhileTheScriptCacheIsFlushedConcurrently() async throws {
        try await withTestRedis(connections: 4) { redis, prefix in
            let key = prefix + "lock"
            try await redis.set(key, to: "token")
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for _ in 0..<30 { try await redis.send("SCRIPT", "FLUSH") }
                }
                for _ in 0..<300 {
                    group.addTask {
                        _ = try await redis.run(Self.compareAndDelete, keys: [key], arguments: ["someone-else"])
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await redis.getString(key) == "token")
        }
    }

    @Test func theSHA1IsRedisOwn() {
        // redis-cli SCRIPT LOAD "return 1" → e0e1f9fabfc9d4800c877a703b823ac0578ff8db
        #expect(RedisScript("return 1").sha1 == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    }

    @Test func theBreakerBacksOffExponentiallyBetweenFailedProbes() {
        let configuration = RedisClient.Configuration(
            url: RedisURL(address: .tcp(host: "127.0.0.1", port: 1)),
            openDuration: .milliseconds(250),
            maximumOpenDuration: .seconds(3)
        )
        let periods = (0..<6).map { RedisClient.openPeriod(afterFailedProbes: $0, configuration: configuration) }
        #expect(periods == [Duration.milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(3), .seconds(3)])
    }
}

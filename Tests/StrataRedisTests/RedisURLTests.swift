import StrataCore
import StrataRedis
import Testing

@Suite struct RedisURLTests {
    @Test func parsesTCPAndUnixForms() throws {
        let tcp = try RedisURL(parsing: "redis://app:s3cret@cache.internal:6380/2")
        #expect(tcp.address == .tcp(host: "cache.internal", port: 6380))
        #expect(tcp.username == "app")
        #expect(tcp.password == "s3cret")
        #expect(tcp.database == 2)
        let unix = try RedisURL(parsing: "unix://:pw@/run/redis/redis.sock?db=3")
        #expect(unix.address == .unix(path: "/run/redis/redis.sock"))
        #expect(unix.password == "pw")
        #expect(unix.database == 3)
        #expect(try RedisURL(parsing: "redis://localhost").address == .tcp(host: "localhost", port: 6379))
    }

    @Test func descriptionHidesThePassword() throws {
        #expect(try RedisURL(parsing: "redis://app:s3cret@h:1/0").description == "redis://app:***@h:1/0")
    }

    @Test(arguments: ["http://h", "redis://h:0", "redis://h/99", "unix://relative.sock", "redis://:s3cret@h/x", "rediss://h"])
    func invalidURLsNameTheVariableNotTheSecret(text: String) {
        #expect {
            _ = try RedisURL(parsing: text)
        } throws: { error in
            let error = error as? StrataError
            return error?.code == .invalidConfiguration && error?.message.contains("REDIS_URL") == true
                && error?.message.contains("s3cret") == false
        }
    }
}

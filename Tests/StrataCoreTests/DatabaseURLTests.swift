import StrataCore
import Testing

@Suite struct DatabaseURLTests {
    @Test func parsesEveryPart() throws {
        let url = try DatabaseURL(parsing: "postgresql://app%40corp:p%3Ass@db.internal:6543/orders?sslmode=require")
        #expect(url.username == "app@corp")
        #expect(url.password == "p:ss")
        #expect(url.host == "db.internal")
        #expect(url.port == 6543)
        #expect(url.database == "orders")
        #expect(url.tls == .require)
    }

    @Test func descriptionNeverShowsThePassword() throws {
        let url = try DatabaseURL(parsing: "postgres://app:topsecret@db:5432/app")
        #expect(!url.description.contains("topsecret"))
        #expect(url.description.contains("app:***@db:5432/app"))
        #expect(!String(reflecting: url).contains("topsecret"))
        #expect(!"\(url)".contains("topsecret"))
    }

    @Test func socketDirectoryFromTheHostParameter() throws {
        let url = try DatabaseURL(parsing: "postgres://postgres@/strata?host=/var/run/postgresql")
        #expect(url.socketPath == "/var/run/postgresql/.s.PGSQL.5432")
        #expect(url.host == nil)
    }

    @Test func defaultsDatabaseToTheUserAndPortTo5432() throws {
        let url = try DatabaseURL(parsing: "postgres://alice@localhost")
        #expect(url.database == "alice")
        #expect(url.port == 5432)
    }

    @Test(arguments: [
        "mysql://u:p@h/db", "postgres://u:topsecret@h:99999/db", "postgres://u:topsecret@h/db?sslmode=maybe",
        "postgres://u:top%ZZsecret@h/db", "postgres://u:topsecret@h/db?evil=1",
    ])
    func invalidURLsNameTheVariableButNotTheSecret(text: String) {
        #expect {
            _ = try DatabaseURL(parsing: text)
        } throws: { error in
            let error = error as? StrataError
            return error?.code == .invalidConfiguration && error?.message.contains("DATABASE_URL") == true
                && error?.message.contains("topsecret") == false
        }
    }
}

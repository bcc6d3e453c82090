import ArgumentParser
import Foundation
import StrataCore
import StrataPostgres

/// `strata keys create | list | revoke`.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "API keys: create (the key is shown once), list, revoke.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key and print it (the only time it is shown).")
        @OptionGroup var options: GlobalOptions

        @Option(help: "A name for the key (who or what uses it).")
        var name: String

        @Option(help: "Comma-separated permissions, each naming its app (simjobs.write, workorders.read, workorders.*) or admin.")
        var permissions: String

        @Option(help: "Expiry, e.g. 90d, 12h (default: never).")
        var expires: String?

        @Option(help: "Requests per minute.")
        var rateLimit = 100

        @Flag(help: "Print {\"id\": …, \"key\": …} as JSON.")
        var json = false

        func run() async throws {
            try await Strata.guarded {
                let lifetime = try expires.map { text -> Duration in
                    guard let duration = EnvironmentReader.parseDuration(text), duration > .zero else {
                        throw StrataError(.invalidValue, "--expires must be a duration such as 90d or 12h.")
                    }
                    return duration
                }
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                let newKey = APIKeyStore.NewKey(
                    name: name,
                    permissions: permissions.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty },
                    rateLimitPerMinute: rateLimit,
                    expiresAt: lifetime.map { Date().addingTimeInterval($0.secondsDouble) }
                )
                let (key, secret) = try await withDatabase(configuration, logger: logger) { pool, _ in
                    try await APIKeyStore(pool: pool).create(newKey)
                }
                if json {
                    let object: [String: Any] = ["id": key.id.uuidString, "key": secret, "prefix": key.prefix, "name": key.name]
                    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                } else {
                    print("Created key \(key.name) (\(key.id)), permissions \(key.permissions.joined(separator: ",")).")
                    print("Key (shown once, keep it safe): \(secret)")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                let keys = try await withDatabase(configuration, logger: logger) { pool, _ in try await APIKeyStore(pool: pool).list() }
                func date(_ value: Date?) -> String { value.map { $0.formatted(.iso8601) } ?? "-" }
                printColumns(
                    header: ["ID", "PREFIX", "NAME", "PERMISSIONS", "RATE/MIN", "STATE", "EXPIRES", "LAST USED"],
                    rows: keys.map { key in
                        [
                            key.id.uuidString, key.prefix, key.name, key.permissions.joined(separator: ","), "\(key.rateLimitPerMinute)",
                            key.isUsable() ? "active" : (key.revokedAt != nil ? "revoked" : "expired"), date(key.expiresAt), date(key.lastUsedAt),
                        ]
                    }
                )
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a key by id or prefix (servers stop accepting it within 10 s)."
        )
        @OptionGroup var options: GlobalOptions

        @Argument(help: "The key's id or prefix.")
        var key: String

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                let revoked = try await withDatabase(configuration, logger: logger) { pool, _ in try await APIKeyStore(pool: pool).revoke(key) }
                guard let revoked else { throw StrataError(.notFound, "No API key has the id or prefix '\(key)'.") }
                print("Revoked \(revoked.name) (\(revoked.prefix)).")
            }
        }
    }
}

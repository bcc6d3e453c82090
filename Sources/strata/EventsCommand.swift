import ArgumentParser
import Foundation
import StrataCore
import StrataPostgres

/// `strata events status | replay`.
struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The transactional outbox and its relay to Redis Streams.",
        subcommands: [Status.self, Replay.self]
    )

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the relay's progress and the events waiting for it.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                let progress = try await withDatabase(configuration, logger: logger) { pool, _ in try await OutboxStore(pool: pool).progress() }
                print("positions handed out   \(progress.lastSequence)")
                print("positions published    \(progress.publishedSequence)")
                print("events waiting         \(progress.unsequenced)")
                if let oldest = progress.oldestUnsequencedAt {
                    print("oldest waiting since   \(oldest.formatted(.iso8601)) (\(Int(Date().timeIntervalSince(oldest)))s ago)")
                }
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish an app's events again from an outbox id on (within the replay window).",
            discussion: """
                The events get new positions after every current one and are published again, in id order, by the \
                relay of a running server (at once) or of the next one to start. Consumers de-duplicate on the outbox id.
                """
        )
        @OptionGroup var options: GlobalOptions

        @Option(help: "The app whose events to replay.")
        var app: String

        @Option(help: "The first outbox id to replay.")
        var from: Int64

        func validate() throws {
            guard OutboxEvent.isAppName(app) else { throw ValidationError("--app must be an app name (lowercase letters, digits, _)") }
            guard from >= 1 else { throw ValidationError("--from must be an outbox id (1 or more)") }
        }

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                let count = try await withDatabase(configuration, logger: logger) { pool, _ in
                    try await OutboxStore(pool: pool).replay(app: app, fromID: from)
                }
                print("\(count) event(s) of \(app) from id \(from) queued for publication again.")
            }
        }
    }
}

import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import StrataCore
import StrataPostgres
import StrataServer
import UnixSignals
import Workflows

#if canImport(Glibc)
import Glibc
#endif

/// `strata workflows …`: the workflows app's commands.
struct WorkflowsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workflows",
        abstract: "The workflows app: run its executions with an operator's command; prune old executions.",
        subcommands: [Runner.self, Prune.self]
    )

    /// `strata workflows runner --exec 'CMD'`: runs executions until stopped (SIGTERM/SIGINT:
    /// running executions finish first).
    struct Runner: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run workflow executions: claims them under a lease and runs the command for each.",
            discussion: """
                The command line is fixed here; nothing from a workflow reaches it. Each execution arrives as JSON on \
                standard input: {"execution_id", "workflow_id", "version_id", "mode", "input", "nodes", "connections"} \
                (the graph of the version the execution runs); STRATA_EXECUTION_ID and STRATA_WORKFLOW_ID name it. \
                Output lines become the execution's log; the last line of standard output that is a JSON object is \
                its result. Exit 0 ends it success, any other status failed. A cancellation stops the command \
                (SIGTERM, then SIGKILL).
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "The command to run per execution (no shell; quotes group words).")
        var exec: String

        @Option(help: "Executions run at once.")
        var concurrency = 1

        @Option(help: "Runner name (default: host-pid).")
        var name: String?

        @Option(help: "Lease of a running execution in seconds; a runner silent this long is presumed dead.")
        var lease = 30

        func validate() throws {
            guard (1...256).contains(concurrency) else { throw ValidationError("--concurrency must be 1 to 256") }
            guard (5...3600).contains(lease) else { throw ValidationError("--lease must be 5 to 3600 seconds") }
            if let name, !(1...200).contains(name.count) { throw ValidationError("--name must be 1 to 200 characters") }
        }

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration()
                let command = try CommandWords(exec)
                signal(SIGPIPE, SIG_IGN)  // a command that closes its input early must not stop the runner
                var poolConfiguration = configuration.pool
                poolConfiguration.poolSize = min(poolConfiguration.poolSize, concurrency * 2 + 2)
                try await withDatabase(configuration, logger: logger, poolConfiguration: poolConfiguration) { pool, _ in
                    let ready = try await pool.query("SELECT to_regclass('workflows.execution_entity') IS NOT NULL").first?.decode(Bool.self) ?? false
                    guard ready else {
                        throw StrataError(.notReady, "The workflows schema is missing: run 'strata migrate up' (or start 'strata serve') first.")
                    }
                    let runnerName = name ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
                    let runner = WorkflowRunner(
                        pool: pool,
                        configuration: .init(command: command.words, name: runnerName, concurrency: concurrency, lease: .seconds(lease)),
                        logger: logger
                    )
                    logger.notice(
                        "workflow runner started",
                        metadata: ["workflows.runner": "\(runnerName)", "workflows.concurrency": "\(concurrency)"]
                    )
                    let group = ServiceGroup(
                        configuration: .init(services: [.init(service: runner)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
                    )
                    try await group.run()
                }
            }
        }
    }

    /// `strata workflows prune [--dry-run]`: one pruning pass now (the server runs one hourly).
    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prune ended executions past WORKFLOWS_PRUNE_MAX_AGE or beyond WORKFLOWS_PRUNE_MAX_COUNT.",
            discussion: """
                Soft-deletes them (hidden at once), then deletes for good those soft-deleted longer than \
                WORKFLOWS_PRUNE_HARD_DELETE_BUFFER. New, running and waiting executions are never touched; pinned ones \
                are kept. Statistics do not change. With --dry-run it prints what it would do and writes nothing.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Flag(help: "Print what would be pruned; write nothing.")
        var dryRun = false

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration()
                guard let module = configuration.modules.compactMap({ $0 as? WorkflowsModule }).first else {
                    throw StrataError(.invalidConfiguration, "The workflows module is not part of this server.")
                }
                try await withDatabase(configuration, logger: logger) { pool, _ in
                    let pruning = ExecutionPruning(pool: pool, policy: module.configuration.pruning)
                    let report = dryRun ? try await pruning.dryRun() : try await pruning.prune()
                    let verb = dryRun ? "would be" : "were"
                    print(
                        "\(report.softDeleted) ended executions \(verb) soft-deleted; \(report.hardDeleted) soft-deleted executions \(verb) deleted for good."
                    )
                }
            }
        }
    }
}

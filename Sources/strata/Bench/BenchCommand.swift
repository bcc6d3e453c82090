import ArgumentParser
import Foundation
import Logging
import StrataCore
import StrataPostgres
import StrataServer

/// `strata bench …`: workloads that print figures.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks that print figures (build with -c release for meaningful numbers).",
        subcommands: [
            CRUD.self, Redis.self, Outbox.self, Auth.self, Queue.self, WorkOrdersLoad.self, WorkflowsLoad.self, FactoryLoad.self, Outage.self,
            BackupLoad.self,
        ]
    )

    struct Redis: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "redis",
            abstract: "GET and SET through Strata's Redis client, beside redis-benchmark on the same server.",
            discussion: """
                Uses REDIS_URL, or the embedded redis-server under $STRATA_HOME/redis. Workloads: redis.set, \
                redis.get, cache.hit (HotCache hits) (--callers concurrent callers, --requests each). redis-benchmark -t get,set -c <callers> \
                runs first against the same server; ratio is ours ÷ its requests per second.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Concurrent callers (redis-benchmark's -c).")
        var callers = 50

        @Option(help: "Requests per workload (redis-benchmark's -n).")
        var requests = 200_000

        @Option(help: "Pipelined connections the callers share.")
        var connections = 2

        @Flag(help: "Skip redis-benchmark.")
        var noPeer = false

        @Flag(help: "Print one JSON object per line.")
        var json = false

        func validate() throws {
            guard (1...1000).contains(callers) else { throw ValidationError("--callers must be in 1...1000") }
            guard requests > 0 else { throw ValidationError("--requests must be positive") }
            guard (1...256).contains(connections) else { throw ValidationError("--connections must be in 1...256") }
        }

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                try await RedisBenchmark(
                    plan: .init(callers: callers, requests: requests, connections: connections, peer: !noPeer),
                    configuration: configuration,
                    logger: logger,
                    report: Report(json: json)
                ).run()
            }
        }
    }

    struct BackupLoad: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "backup",
            abstract: "Logical backup, restore and drill of a scratch database, each beside pg_dump/pg_restore run directly on the same data.",
            discussion: """
                Workloads: backup.logical_dump (strata backup create: pg_dump of an exported snapshot with the manifest \
                taken meanwhile, against pg_dump --format=custom --compress=9), backup.logical_restore (strata backup \
                restore against pg_restore --single-transaction --exit-on-error --no-owner) and backup.drill (restore, \
                table-by-table comparison, pg_amcheck). seconds, mb_per_s of the database's size, and ratio = the direct \
                tool's time over Strata's. Runs in a scratch database (strata_bench_backup, dropped afterwards).
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Approximate size of the data to back up, in MB.")
        var megabytes = 200

        @Flag(help: "Print one JSON object per line.")
        var json = false

        func validate() throws {
            guard (1...100_000).contains(megabytes) else { throw ValidationError("--megabytes must be in 1...100000") }
        }

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                try await BackupBenchmark(
                    plan: .init(megabytes: megabytes),
                    configuration: configuration,
                    logger: logger,
                    report: Report(json: json)
                ).run()
            }
        }
    }

    struct Outbox: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "outbox",
            abstract: "Events from append to Redis stream entry: throughput with concurrent writers, and commit-to-stream lag at a steady rate.",
            discussion: """
                Workloads: outbox.throughput (--writers tasks append one event per transaction while the relay runs; \
                events/s until the relay has published the last; p50/p99 are commit latencies) and outbox.lag (--rate \
                events/s for --lag-seconds; p50/p99 are commit-to-stream-entry times). Runs in a scratch database \
                (strata_bench_outbox, dropped afterwards) on the configured server, relaying to REDIS_URL or the \
                embedded redis-server.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Concurrent writers for outbox.throughput.")
        var writers = 8

        @Option(help: "Events appended for outbox.throughput.")
        var events = 20_000

        @Option(help: "Events per second for outbox.lag.")
        var rate = 500

        @Option(help: "Seconds outbox.lag runs.")
        var lagSeconds = 10

        @Flag(help: "Print one JSON object per line.")
        var json = false

        func validate() throws {
            guard (1...256).contains(writers) else { throw ValidationError("--writers must be in 1...256") }
            guard events > 0 else { throw ValidationError("--events must be positive") }
            guard (1...100_000).contains(rate) else { throw ValidationError("--rate must be in 1...100000") }
            guard (1...600).contains(lagSeconds) else { throw ValidationError("--lag-seconds must be in 1...600") }
        }

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                let plan = OutboxBenchmark.Plan(writers: writers, events: events, rate: rate, lagSeconds: lagSeconds)
                try await OutboxBenchmark(plan: plan, configuration: configuration, logger: logger, report: Report(json: json)).run()
            }
        }
    }

    struct Queue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "queue",
            abstract: "The platform queue: enqueue (single and batched), end-to-end throughput and enqueue-to-start latency.",
            discussion: """
                Workloads: queue.enqueue, queue.enqueue.batch, queue.e2e (no-op jobs, 8 worker slots), queue.latency \
                (enqueue-to-start p50/p99 at --rate jobs/s). Runs in a scratch database (strata_bench_queue, dropped afterwards). \
                With --peer-python, pgqueuer and procrastinate run the same workloads right after ours against the same \
                server (make bench-queue sets them up); ratio is ours ÷ the faster peer's ops/s, latency_ratio our p50 ÷ \
                the better peer's.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Jobs per throughput workload.")
        var jobs = 5000

        @Option(help: "Jobs per second for the latency workload.")
        var rate = 200

        @Option(help: "Seconds of the latency workload.")
        var seconds = 5

        @Option(help: "A Python with pgqueuer and procrastinate installed (make bench-queue sets up .venv); omit to skip the peers.")
        var peerPython: String?

        @Flag(help: "Print one JSON object per line.")
        var json = false

        func validate() throws {
            guard (100...1_000_000).contains(jobs) else { throw ValidationError("--jobs must be 100 to 1000000") }
            guard (1...10_000).contains(rate) else { throw ValidationError("--rate must be 1 to 10000") }
            guard (1...600).contains(seconds) else { throw ValidationError("--seconds must be 1 to 600") }
        }

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                let plan = QueueBenchmark.Plan(jobs: jobs, rate: rate, latencySeconds: seconds, peerPython: peerPython)
                try await QueueBenchmark(plan: plan, configuration: configuration, logger: logger, report: Report(json: json)).run()
            }
        }
    }

    struct Auth: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "auth",
            abstract: "One trivial route without credentials, with an API key and with a user token, over loopback.",
            discussion: """
                Workloads: auth.none, auth.apikey, auth.jwt (ratio: ÷ auth.none). --connections keep-alive \
                connections drive the real router (every middleware; Redis as configured) in a scratch database \
                (strata_bench_auth, dropped afterwards).
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Keep-alive connections.")
        var connections = 32

        @Option(help: "Requests per workload.")
        var requests = 96_000

        @Flag(help: "Print one JSON object per line.")
        var json = false

        func validate() throws {
            guard (1...1024).contains(connections) else { throw ValidationError("--connections must be in 1...1024") }
            guard requests > 0 else { throw ValidationError("--requests must be positive") }
        }

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                try await AuthBenchmark(
                    plan: .init(connections: connections, requests: requests),
                    configuration: configuration,
                    logger: logger,
                    report: Report(json: json)
                ).run()
            }
        }
    }

    struct WorkflowsLoad: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "workflows",
            abstract: "The workflows API over loopback: workflow details, executions end to end, statistics.",
            discussion: """
                Workloads: workflows.details (?include=details of 50-node, 32-connection workflows; ceiling_ratio: \
                ÷ pgbench running the same statement), workflows.executions (started over HTTP, claimed and finished \
                by --workers workers through the worker protocol, end to end per second), workflows.stats (the \
                statistics route over --stats-executions executions), workflows.memory (peak resident memory of \
                the process, server and load driver). A scratch database (strata_bench_workflows) is dropped afterwards.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Keep-alive connections for the detail reads (and pgbench's clients).")
        var connections = 32

        @Option(help: "Detail reads.")
        var requests = 40_000

        @Option(help: "Executions run end to end.")
        var executions = 10_000

        @Option(help: "Workers claiming and finishing executions.")
        var workers = 8

        @Option(help: "Ended executions behind the statistics route.")
        var statsExecutions = 1_000_000

        @Option(help: "Seconds pgbench runs for the details ceiling; 0 skips it.")
        var pgbenchSeconds = 10

        @Flag(help: "Print one JSON object per line.")
        var json = false

        func validate() throws {
            guard (1...1024).contains(connections) else { throw ValidationError("--connections must be in 1...1024") }
            guard requests > 0, executions > 0 else { throw ValidationError("--requests and --executions must be positive") }
            guard (1...256).contains(workers) else { throw ValidationError("--workers must be in 1...256") }
            guard (1...100_000_000).contains(statsExecutions) else { throw ValidationError("--stats-executions must be in 1...100000000") }
            guard (0...600).contains(pgbenchSeconds) else { throw ValidationError("--pgbench-seconds must be in 0...600") }
        }

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                try await WorkflowsBenchmark(
                    plan: .init(
                        connections: connections,
                        requests: requests,
                        executions: executions,
                        workers: workers,
                        statsExecutions: statsExecutions,
                        pgbenchSeconds: pgbenchSeconds
                    ),
                    configuration: configuration,
                    logger: logger,
                    report: Report(json: json)
                ).run()
            }
        }
    }

    struct FactoryLoad: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "factory",
            abstract: "The factory app over loopback: line-protocol ingest, rollup queries, graph walks, a mixed scoped load.",
            discussion: """
                Workloads: factory.ingest (points/s through POST /api/v2/write in batches of 5,000; ceiling_ratio: ÷ COPY \
                of the same rows by psql; ratio: ÷ InfluxDB's /write of the same batches), factory.rollup_query (7 days of \
                hourly windows for one line, one client; ratio: InfluxDB's GROUP BY time(1h) p99 ÷ Strata's), \
                factory.graph (depth-3 cause walks, one client), factory.mixed (60 % overview, 20 % anomaly list, \
                15 % anomaly detail, 5 % transitions as a signed-in user scoped to half the lines; rss_max_mb: the \
                process's resident memory sampled during the load), factory.memory (peak resident memory of the \
                process, server and load driver). InfluxDB is Debian's influxd, started on a free loopback port. A \
                scratch database (strata_bench_factory) is dropped afterwards.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Points ingested (in batches of 5,000).")
        var points = 200_000

        @Option(help: "Connections writing batches at once (to Strata and to InfluxDB).")
        var ingestConnections = 4

        @Option(help: "Rollup queries (one client).")
        var queries = 2_000

        @Option(help: "Nodes of the graph.")
        var graphNodes = 100_000

        @Option(help: "Edges of the graph.")
        var graphEdges = 500_000

        @Option(help: "Depth-3 walks (one client).")
        var walks = 2_000

        @Option(help: "Keep-alive connections of the mixed load.")
        var connections = 32

        @Option(help: "Requests of the mixed load.")
        var requests = 40_000

        @Flag(inversion: .prefixedNo, help: "Compare with InfluxDB (influxd must be installed).")
        var influx = true

        @Flag(help: "Print one JSON object per line.")
        var json = false

        func validate() throws {
            guard (5_000...50_000_000).contains(points) else { throw ValidationError("--points must be in 5000...50000000") }
            guard (1...64).contains(ingestConnections), (1...1024).contains(connections) else {
                throw ValidationError("--ingest-connections must be in 1...64 and --connections in 1...1024")
            }
            guard queries > 0, walks > 0, requests > 0 else { throw ValidationError("--queries, --walks and --requests must be positive") }
            guard (100...10_000_000).contains(graphNodes), (100...50_000_000).contains(graphEdges) else {
                throw ValidationError("--graph-nodes must be in 100...10000000 and --graph-edges in 100...50000000")
            }
        }

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                try await FactoryBenchmark(
                    plan: .init(
                        points: points,
                        ingestConnections: ingestConnections,
                        queries: queries,
                        graphNodes: graphNodes,
                        graphEdges: graphEdges,
                        walks: walks,
                        connections: connections,
                        requests: requests,
                        influx: influx
                    ),
                    configuration: configuration,
                    logger: logger,
                    report: Report(json: json)
                ).run()
            }
        }
    }

    struct WorkOrdersLoad: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "workorders",
            abstract: "The workorders API under a mixed load over loopback, with the cache on and off.",
            discussion: """
                Workloads: workorders.mixed.cached (ratio: ÷ workorders.mixed.uncached), workorders.mixed.uncached; \
                60% order detail, 20% list, 15% progress reports, 5% creates, through the real router (API key, \
                audit, outbox) in a scratch database (strata_bench_workorders, dropped afterwards). Needs Redis.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Keep-alive connections.")
        var connections = 32

        @Option(help: "Requests per workload.")
        var requests = 60_000

        @Option(help: "Orders to spread the load over.")
        var orders = 200

        @Option(
            help:
                "Only one kind of request (detail, list, progress, create) instead of the mix; workloads are then workorders.<kind>.cached/uncached."
        )
        var only: String?

        @Flag(help: "Print one JSON object per line.")
        var json = false

        func validate() throws {
            guard (1...1024).contains(connections) else { throw ValidationError("--connections must be in 1...1024") }
            guard requests > 0 else { throw ValidationError("--requests must be positive") }
            guard (1...100_000).contains(orders) else { throw ValidationError("--orders must be in 1...100000") }
            if let only, !["detail", "list", "progress", "create"].contains(only) {
                throw ValidationError("--only must be detail, list, progress or create")
            }
        }

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                try await WorkOrdersBenchmark(
                    plan: .init(connections: connections, requests: requests, orders: orders, only: only),
                    configuration: configuration,
                    logger: logger,
                    report: Report(json: json)
                ).run()
            }
        }
    }

    struct Outage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "outage",
            abstract: "strata serve while its PostgreSQL is killed and started again under write load.",
            discussion: """
                Runs strata serve (this binary) on a throw-away PostgreSQL given by DATABASE_URL, with writers \
                creating work orders; each round kills the postmaster (SIGKILL), keeps it down, starts it again on \
                the same port. Prints per round: recovery_ms (PostgreSQL back → first acknowledged create), the \
                503s' latency while down, the server's RSS before / peak while down / after; then the medians and \
                the ledger check (acknowledged creates missing, titles applied twice). Needs nothing but PostgreSQL.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Kill-and-restart rounds.")
        var rounds = 3

        @Option(help: "How long PostgreSQL stays down each round (e.g. 5s, 30s).")
        var down = "5s"

        @Option(help: "Concurrent writers (keep-alive connections).")
        var writers = 8

        @Flag(help: "Print one JSON object per line.")
        var json = false

        func validate() throws {
            guard (1...20).contains(rounds) else { throw ValidationError("--rounds must be in 1...20") }
            guard (1...256).contains(writers) else { throw ValidationError("--writers must be in 1...256") }
            guard let duration = EnvironmentReader.parseDuration(down), duration >= .milliseconds(100), duration <= .seconds(600) else {
                throw ValidationError("--down must be a duration from 100ms to 600s")
            }
        }

        func run() async throws {
            try await Strata.guarded {
                let (_, logger) = try options.configuration(defaultLogLevel: "warning")
                try await OutageBenchmark(
                    plan: .init(rounds: rounds, down: EnvironmentReader.parseDuration(down) ?? .seconds(5), writers: writers),
                    logger: logger,
                    report: Report(json: json)
                ).run()
            }
        }
    }

    struct CRUD: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "crud",
            abstract: "Single-row inserts, primary-key reads and updates, beside asyncpg and the pgbench -S ceiling.",
            discussion: """
                Workloads (each with --concurrency tasks on a pool of the same size): crud.insert (one \
                transaction per row), crud.read (primary-key lookups), crud.update (status updates), on a table \
                shaped like factory.anomalies in schema strata_bench; crud.read.held repeats the reads on \
                connections the tasks hold for the whole run (postgres-nio's own cost, no lease per read). \
                With --peer-python, the same workloads run with asyncpg right after ours, against the same \
                server; pgbench -S -M prepared gives the read ceiling. client_cpu_us and server_cpu_us are the \
                CPU one operation cost each side (the server's only for the embedded one). Only ratios taken in \
                one run mean anything on a shared machine.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Concurrent tasks and pool size.")
        var concurrency = 8

        @Option(help: "Rows inserted (W1).")
        var inserts = 50_000

        @Option(help: "Primary-key reads (W2).")
        var reads = 100_000

        @Option(help: "Status updates (W3).")
        var updates = 50_000

        @Option(help: "A Python with asyncpg installed (make bench sets up .venv); omit to skip the peer.")
        var peerPython: String?

        @Option(help: "Seconds pgbench runs for the read ceiling; 0 skips it.")
        var pgbenchSeconds = 10

        @Flag(help: "Print one JSON object per line.")
        var json = false

        func validate() throws {
            guard (1...256).contains(concurrency) else { throw ValidationError("--concurrency must be in 1...256") }
            guard inserts > 0, reads >= 0, updates >= 0 else {
                throw ValidationError("--inserts must be positive; --reads and --updates not negative")
            }
            guard (0...600).contains(pgbenchSeconds) else { throw ValidationError("--pgbench-seconds must be in 0...600") }
        }

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                let plan = CRUDBenchmark.Plan(
                    concurrency: concurrency,
                    inserts: inserts,
                    reads: reads,
                    updates: updates,
                    peerPython: peerPython,
                    pgbenchSeconds: pgbenchSeconds
                )
                let report = Report(json: json)
                try await CRUDBenchmark(plan: plan, configuration: configuration, logger: logger, report: report).run()
            }
        }
    }
}

/// Prints benchmark results as a table row or a JSON line.
struct Report: Sendable {
    let json: Bool

    func emit(_ fields: [(String, Any)]) {
        if json {
            let object = Dictionary(fields, uniquingKeysWith: { first, _ in first })
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
                print(String(decoding: data, as: UTF8.self))
            }
        } else {
            print(fields.map { key, value in "\(key)=\(Self.format(value))" }.joined(separator: "  "))
        }
    }

    func note(_ text: String) {
        if !json { print(text) }
    }

    static func format(_ value: Any) -> String {
        if let number = value as? Double { return String(format: number >= 100 ? "%.0f" : "%.3f", number) }
        return "\(value)"
    }
}

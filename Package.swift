// swift-tools-version: 6.1
import PackageDescription

/// Settings every Strata target shares: Swift 6 mode plus the upcoming features that make
/// dependencies explicit (see docs/ARCHITECTURE.md, "Compiler settings").
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Strata",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "strata", targets: ["strata"]),
        .library(name: "StrataCore", targets: ["StrataCore"]),
        .library(name: "StrataPostgres", targets: ["StrataPostgres"]),
        .library(name: "StrataRedis", targets: ["StrataRedis"]),
        .library(name: "StrataEvents", targets: ["StrataEvents"]),
        .library(name: "StrataSecurity", targets: ["StrataSecurity"]),
        .library(name: "StrataTelemetry", targets: ["StrataTelemetry"]),
        .library(name: "StrataObjects", targets: ["StrataObjects"]),
        .library(name: "StrataHTTP", targets: ["StrataHTTP"]),
        .library(name: "StrataServer", targets: ["StrataServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", exact: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", exact: "2.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", exact: "1.35.2"),
    ],
    targets: [
        // Vocabulary: errors with stable codes, configuration, identifiers. No NIO, no server types.
        .target(
            name: "StrataCore",
            swiftSettings: strictSettings
        ),
        // PostgreSQL: pool, embedded cluster, migrations, error mapping, statistics.
        .target(
            name: "StrataPostgres",
            dependencies: [
                "StrataCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("Resources/Migrations")],
            swiftSettings: strictSettings
        ),
        // Redis: RESP codec, pipelined connections, the hot-layer mechanisms.
        .target(
            name: "StrataRedis",
            dependencies: [
                "StrataCore",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // Object storage: a file-system store and an S3-compatible one (SigV4 over async-http-client).
        .target(
            name: "StrataObjects",
            dependencies: [
                "StrataCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The process's metrics: one Prometheus registry behind swift-metrics.
        .target(
            name: "StrataTelemetry",
            dependencies: [
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
        // Secrets at rest: password hashing (bcrypt) and sealed secrets (AES-GCM).
        .target(
            name: "StrataSecurity",
            dependencies: [
                "StrataCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // Change events: the outbox relay to Redis Streams, the live-event hub and feeds, and
        // outbound webhooks (signed, queued on the platform queue, sent with async-http-client).
        .target(
            name: "StrataEvents",
            dependencies: [
                "StrataCore",
                "StrataPostgres",
                "StrataRedis",
                "StrataSecurity",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        // HTTP conventions over Hummingbird: problem+json, request ids, metrics, health,
        // identity, idempotency, pagination.
        .target(
            name: "StrataHTTP",
            dependencies: [
                "StrataObjects",
                "StrataCore",
                "StrataEvents",
                "StrataPostgres",
                "StrataRedis",
                "StrataSecurity",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
        // The GPU simulation task server (seed 002): tasks on the platform queue, workers, logs.
        .target(
            name: "SimJobs",
            dependencies: [
                "StrataObjects",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                "StrataCore",
                "StrataEvents",
                "StrataPostgres",
                "StrataSecurity",
                "StrataHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Resources/Migrations"), .copy("Resources/openapi.json")],
            swiftSettings: strictSettings
        ),
        // Work-order collaboration (seed 003): orders, steps, progress, chat, customers, licences.
        .target(
            name: "WorkOrders",
            dependencies: [
                "StrataCore",
                "StrataObjects",
                "StrataPostgres",
                "StrataRedis",
                "StrataSecurity",
                "StrataHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Resources/Migrations"), .copy("Resources/openapi.json")],
            swiftSettings: strictSettings
        ),
        // Anomaly-disposal platform (seed 000): lines, anomalies, fixes and cases, scoped users.
        .target(
            name: "Factory",
            dependencies: [
                "StrataCore",
                "StrataEvents",
                "StrataPostgres",
                "StrataRedis",
                "StrataObjects",
                "StrataHTTP",
                "StrataSecurity",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Resources/Migrations"), .copy("Resources/openapi.json")],
            swiftSettings: strictSettings
        ),
        // Workflow automation store (seed 004): versioned workflows, executions run by leased workers.
        .target(
            name: "Workflows",
            dependencies: [
                "StrataCore",
                "StrataEvents",
                "StrataPostgres",
                "StrataHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Resources/Migrations"), .copy("Resources/openapi.json")],
            swiftSettings: strictSettings
        ),
        // Composition root: configuration → services → one application.
        .target(
            name: "StrataServer",
            dependencies: [
                "StrataObjects",
                "SimJobs",
                "WorkOrders",
                "Workflows",
                "Factory",
                "StrataEvents",
                "StrataRedis",
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                "StrataCore",
                "StrataPostgres",
                "StrataSecurity",
                "StrataTelemetry",
                "StrataHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Resources/openapi.json")],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "strata",
            dependencies: [
                "SimJobs",
                "WorkOrders",
                "Workflows",
                "Factory",
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "StrataEvents",
                "StrataHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                "StrataRedis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                "StrataCore",
                "StrataPostgres",
                "StrataServer",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        // Test harness: one PostgreSQL per test run, one fresh database per test.
        .target(
            name: "StrataTestSupport",
            dependencies: [
                "StrataObjects",
                "StrataHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                "StrataEvents",
                "StrataCore",
                "StrataPostgres",
                "StrataRedis",
                "StrataTelemetry",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "StrataObjectsTests",
            dependencies: [
                "StrataCore",
                "StrataObjects",
                "StrataTestSupport",
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "StrataCoreTests",
            dependencies: ["StrataCore"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "StrataRedisTests",
            dependencies: [
                "StrataCore",
                "StrataPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                "StrataRedis",
                "StrataTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "StrataPostgresTests",
            dependencies: [
                "StrataCore",
                "StrataPostgres",
                "StrataTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "StrataEventsTests",
            dependencies: [
                "StrataCore",
                "StrataPostgres",
                "StrataRedis",
                "StrataEvents",
                "StrataTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "StrataServerTests",
            dependencies: [
                "StrataCore",
                "StrataEvents",
                "StrataSecurity",
                "StrataRedis",
                "StrataPostgres",
                "StrataHTTP",
                "StrataServer",
                "StrataTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "WorkOrdersTests",
            dependencies: [
                "WorkOrders",
                "StrataEvents",
                "StrataObjects",
                "StrataCore",
                "StrataPostgres",
                "StrataRedis",
                "StrataSecurity",
                "StrataHTTP",
                "StrataTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "FactoryTests",
            dependencies: [
                "Factory",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                "StrataCore",
                "StrataPostgres",
                "StrataHTTP",
                "StrataTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "WorkflowsTests",
            dependencies: [
                "Workflows",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                "StrataCore",
                "StrataPostgres",
                "StrataHTTP",
                "StrataTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SimJobsTests",
            dependencies: [
                "StrataObjects",
                "SimJobs",
                "StrataCore",
                "StrataEvents",
                "StrataPostgres",
                "StrataSecurity",
                "StrataHTTP",
                "StrataTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)

public import Hummingbird
public import Logging
public import StrataPostgres

/// The one composition of Strata's HTTP stack: the middleware in the order request id →
/// observation → problems → body limit → authentication → audit → idempotency, then `/health`,
/// `/ready`, `/metrics` and the modules' routes. The server builds its router with it (adding
/// `/openapi.json`), and StrataTestSupport builds one module's router with it for that module's
/// route tests.
public enum StrataRouter {
    /// The request limits the stack applies.
    public struct Limits: Sendable {
        /// The largest request body, in bytes, outside a module's upload routes.
        public var maxBodySize: Int
        /// Requests per minute per client IP without credentials.
        public var anonymousPerMinute: Int
        /// Requests per minute per signed-in user.
        public var userPerMinute: Int

        public init(maxBodySize: Int = 1 << 20, anonymousPerMinute: Int = 600, userPerMinute: Int = 600) {
            self.maxBodySize = maxBodySize
            self.anonymousPerMinute = anonymousPerMinute
            self.userPerMinute = userPerMinute
        }
    }

    /// A router serving `modules` through the whole stack.
    /// - Parameters:
    ///   - environment: What the modules get (the pool, Redis, keys, tokens, …).
    ///   - readiness: Whether the process still accepts traffic.
    ///   - checks: What `/ready` checks besides.
    ///   - routes: Where the registered endpoints are recorded.
    ///   - metrics: Renders `/metrics`.
    ///   - addRoutes: Routes of the caller's own, added before the modules' (`/openapi.json`).
    public static func build(
        modules: [any StrataModule],
        environment: ModuleEnvironment,
        limits: Limits = Limits(),
        readiness: Readiness = Readiness(),
        checks: [ReadinessCheck] = [],
        routes: RouteTable = RouteTable(),
        metrics: @escaping @Sendable () async -> String = { "" },
        addRoutes: (RouteRecorder<StrataRequestContext>) -> Void = { _ in }
    ) -> Router<StrataRequestContext> {
        let router = Router(context: StrataRequestContext.self)
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: RequestObservationMiddleware())
        router.add(middleware: ProblemMiddleware(routes: routes))
        router.add(middleware: BodyLimitMiddleware(limit: limits.maxBodySize, uploads: modules.flatMap(\.uploadLimits)))
        router.add(
            middleware: AuthenticationMiddleware(
                keys: environment.keys,
                limiter: environment.limiter,
                tokens: environment.tokens,
                revocations: environment.revocations,
                anonymousPerMinute: limits.anonymousPerMinute,
                userPerMinute: limits.userPerMinute
            )
        )
        router.add(middleware: AuditMiddleware(pool: environment.pool, apps: Set(modules.map(\.name))))
        router.add(middleware: IdempotencyMiddleware(pool: environment.pool))
        let recorder = RouteRecorder(router, into: routes)
        HealthController(readiness: readiness, checks: checks, metrics: metrics).addRoutes(to: recorder)
        addRoutes(recorder)
        for module in modules {
            module.addRoutes(to: recorder, environment: environment)
        }
        return router
    }
}

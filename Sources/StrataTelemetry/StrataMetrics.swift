import CoreMetrics
import Foundation
import Metrics
public import Prometheus

/// The process's Prometheus registry, bootstrapped into swift-metrics on first use.
///
/// swift-metrics binds an instrument to the backend when the instrument is created, so call
/// ``bootstrap()`` before creating pools or other instrumented components (the server does it
/// first thing).
public enum StrataMetrics {
    /// The registry every swift-metrics instrument of the process reports into.
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    /// Makes sure the registry is bootstrapped before any instrument is created.
    public static func bootstrap() { _ = registry }

    /// The registry's exposition text.
    public static func render() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}

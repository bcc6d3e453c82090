import Foundation
public import Hummingbird
import NIOCore
import StrataCore
public import StrataHTTP

/// Production metrics over HTTP: InfluxDB's write endpoints (`POST /api/v2/write?bucket=production`
/// with `Authorization: Token <key>`, and v1's `POST /write?db=production`), so the seed's own
/// `influxdb-client` code writes to Strata; JSON batches on `POST /api/factory/metrics`; raw
/// ranges and windowed aggregates on `GET /api/factory/metrics[/aggregate]`. Writes need
/// `factory.write`, reads `factory.read`; both are limited to the caller's lines.
public struct MetricsController: Sendable {
    let metrics: MetricsService

    /// The bucket (v2) or database (v1) the seed writes to.
    static let bucket = "production"

    public init(metrics: MetricsService) {
        self.metrics = metrics
    }

    struct Batch: Decodable {
        var points: [MetricPoint]
    }

    struct Written: ResponseEncodable {
        var written: Int
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        router.post("/api/v2/write") { request, context in
            try await write(request, context: context, bucketParameter: "bucket")
        }
        router.post("/write") { request, context in
            try await write(request, context: context, bucketParameter: "db")
        }
        router.post("/api/factory/metrics") { request, context in
            let caller = try context.caller(requiring: "factory.write")
            let batch = try await request.decodeJSON(as: Batch.self, context: context)
            return Written(written: try await metrics.write(batch.points, by: caller))
        }
        router.get("/api/factory/metrics") { request, context in
            let principal = try context.requirePermission("factory.read")
            var query = QueryReader(request)
            let (line, station, from, to) = Self.range(&query)
            let limit = query.integer("limit", in: 1...10_000).map(Int.init) ?? 1_000
            let page = query.page()
            try query.validate()
            let points = try await metrics.points(
                line: line ?? "",
                station: station,
                from: from ?? .distantPast,
                to: to ?? .distantFuture,
                limit: limit,
                cursor: page.cursor,
                scopes: principal.rowScopes
            )
            return try Response.json(points)
        }
        router.get("/api/factory/metrics/aggregate") { request, context in
            let principal = try context.requirePermission("factory.read")
            var query = QueryReader(request)
            let (line, station, from, to) = Self.range(&query)
            let window = query.choice("window", of: MetricsService.Window.self)
            if window == nil, query.raw("window") == nil { query.reject("window", "is required: 1m, 1h or 1d") }
            if query.raw("from") == nil { query.reject("from", "is required") }
            try query.validate()
            let aggregates = try await metrics.aggregate(
                line: line ?? "",
                station: station,
                from: from ?? Date(),
                to: to ?? Date(),
                window: window ?? .hour,
                scopes: principal.rowScopes
            )
            return try Response.json(aggregates)
        }
    }

    /// `line_id` (required), `station_id`, `from` and `to` (RFC 3339, `to` after `from`).
    static func range(_ query: inout QueryReader) -> (line: String?, station: String?, from: Date?, to: Date?) {
        let line = query.text("line_id", length: 1...50)
        if query.raw("line_id") == nil { query.reject("line_id", "is required") }
        let station = query.text("station_id", length: 0...50)
        func date(_ name: String) -> Date? {
            guard let text = query.raw(name) else { return nil }
            guard let date = RFC3339.date(from: text), (MetricsService.earliest...MetricsService.latest).contains(date) else {
                query.reject(name, "must be an RFC 3339 date-time between 1970 and 2200")
                return nil
            }
            return date
        }
        let (from, to) = (date("from"), date("to"))
        if let from, let to, to <= from { query.reject("to", "must be after from") }
        return (line, station, from, to)
    }

    /// An InfluxDB write: the bucket named, the precision read, the whole body or nothing.
    func write(_ request: Request, context: StrataRequestContext, bucketParameter: String) async throws -> Response {
        let caller = try context.caller(requiring: "factory.write")
        var query = QueryReader(request)
        let bucket = query.raw(bucketParameter)
        if bucket == nil { query.reject(bucketParameter, "is required (\(Self.bucket))") }
        var precision = LineProtocol.Precision.nanoseconds
        if let text = query.raw("precision") {
            if let chosen = LineProtocol.Precision(parameter: text) {
                precision = chosen
            } else {
                query.reject("precision", "must be ns, us, ms or s")
            }
        }
        try query.validate()
        guard bucket == Self.bucket else {
            throw StrataError(.notFound, "No bucket is named '\(bucket ?? "")'; production metrics are written to '\(Self.bucket)'.")
        }
        if let encoding = request.headers[.contentEncoding], encoding.lowercased() != "identity" {
            throw StrataError(.unsupportedMediaType, "Send the points uncompressed (Content-Encoding \(encoding) is not accepted).")
        }
        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        try await metrics.write(lineProtocol: body.readableBytesView, precision: precision, by: caller)
        return Response(status: .noContent)
    }
}

import Foundation
import PostgresNIO

/// The benchmark's table, shaped like `factory.anomalies`: uuid key, text columns,
/// timestamptz, a ~300-byte jsonb and a 3-element text[].
enum CRUDSchema {
    static func create(table: String) -> [String] {
        [
            "CREATE SCHEMA IF NOT EXISTS strata_bench",
            "DROP TABLE IF EXISTS strata_bench.\(table)",
            """
            CREATE TABLE strata_bench.\(table) (
                anomaly_id  uuid        PRIMARY KEY,
                line_id     text        NOT NULL,
                station_id  text        NOT NULL,
                title       text        NOT NULL,
                status      text        NOT NULL DEFAULT 'open',
                severity    text        NOT NULL,
                detected_at timestamptz NOT NULL,
                details     jsonb       NOT NULL,
                tags        text[]      NOT NULL,
                created_at  timestamptz NOT NULL DEFAULT now(),
                updated_at  timestamptz NOT NULL DEFAULT now()
            )
            """,
        ]
    }

    /// About 300 bytes of JSON, like an anomaly's diagnosis details.
    static func details(_ index: Int) -> String {
        """
        {"sensor":"S-\(index % 97)","reading":\(Double(index % 1000) / 10),"threshold":75.5,"unit":"celsius",\
        "operator":"op-\(index % 13)","shift":"night","batch":"B-2026-\(index % 365)","notes":"temperature drift \
        detected on spindle during cycle; coolant flow nominal; vibration within limits","images":2,"confirmed":true}
        """
    }
}

struct InsertAnomaly: PostgresPreparedStatement {
    static let name = "bench.InsertAnomaly"
    static let sql = """
        INSERT INTO strata_bench.anomalies (anomaly_id, line_id, station_id, title, severity, detected_at, details, tags)
        VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
        """
    typealias Row = ()

    var id: UUID
    var index: Int

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 8)
        bindings.append(id)
        bindings.append("L-\(index % 20)")
        bindings.append("ST-\(index % 200)")
        bindings.append("Spindle temperature above threshold #\(index)")
        bindings.append(["low", "medium", "high", "critical"][index % 4])
        bindings.append(Date())
        bindings.append(CRUDSchema.details(index))
        bindings.append(["thermal", "line-\(index % 20)", "auto"])
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {}
}

struct ReadAnomaly: PostgresPreparedStatement {
    static let name = "bench.ReadAnomaly"
    static let sql = """
        SELECT anomaly_id, line_id, station_id, title, status, severity, detected_at, details::text, tags, created_at, updated_at
        FROM strata_bench.anomalies WHERE anomaly_id = $1
        """
    typealias Row = (UUID, String, String, String, String, String, Date, String, [String], Date, Date)

    var id: UUID

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(id)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}

struct UpdateAnomalyStatus: PostgresPreparedStatement {
    static let name = "bench.UpdateAnomalyStatus"
    static let sql = "UPDATE strata_bench.anomalies SET status = $1, updated_at = now() WHERE anomaly_id = $2"
    typealias Row = ()

    var id: UUID
    var status: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(status)
        bindings.append(id)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {}
}

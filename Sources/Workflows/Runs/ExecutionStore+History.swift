import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

extension ExecutionStore {
    /// An execution that already ran elsewhere (demo data, an import): its end and what it left.
    struct EndedExecution: Sendable {
        var new: NewExecution
        var status: ExecutionStatus
        var startedAt: Date
        var finishedAt: Date
        var resultJSON: String?
        var errorMessage: String?
        var log: [(node: String?, message: String)]
    }

    /// Records an ended execution in one statement — the row, its data and log, and the same
    /// statistics, rollup and insight writes as an end through ``finish(_:job:to:errorMessage:waitTill:resultJSON:on:logger:)``;
    /// it never passes through the queue, so no worker sees it.
    func insertEnded(_ ended: EndedExecution, on connection: PostgresConnection, logger: Logger) async throws {
        let new = ended.new
        try await connection.run(
            """
            WITH ended AS (
                INSERT INTO workflows.execution_entity
                    (id, workflow_id, version_id, status, mode, triggered_by, retry_of, error_message, started_at, finished_at, worker_id, created_at)
                VALUES (\(new.id), \(new.workflowID), \(new.versionID), \(ended.status.code), \(new.mode.code), \(new.triggeredBy), \(new.retryOf),
                        \(ended.errorMessage), \(ended.startedAt), \(ended.finishedAt), 'import', \(ended.startedAt))
                RETURNING \(unescaped: Self.columns)
            ),
            data AS (
                INSERT INTO workflows.execution_data (execution_id, input, workflow_data, data)
                SELECT ended.id, \(new.inputJSON)::jsonb, jsonb_build_object('nodes', h.nodes, 'connections', h.connections), \(ended.resultJSON)
                FROM ended JOIN workflows.workflow_history AS h ON h.version_id = ended.version_id
            ),
            log AS (
                INSERT INTO workflows.execution_log (execution_id, node, message, created_at)
                SELECT ended.id, nullif(l.node, ''), l.message, \(ended.startedAt)::timestamptz + l.n * interval '1 millisecond'
                FROM ended, unnest(\(ended.log.map { $0.node ?? "" })::text[], \(ended.log.map(\.message))::text[]) WITH ORDINALITY AS l(node, message, n)
            ),
            \(unescaped: Self.statisticsCTEs(of: "ended"))
            SELECT count(*) FROM ended
            """,
            logger: logger
        )
    }
}

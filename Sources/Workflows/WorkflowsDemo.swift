import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// `strata seed workflows`: three realistic workflows (an order sync run by a webhook, a nightly
/// report on a schedule, a lead-scoring flow still in draft), the first two active, with a
/// history of ended executions so that their statistics and logs have something to show.
/// Idempotent: a workflow whose name exists is left as it is.
enum WorkflowsDemo {
    struct Blueprint {
        var name: String
        var tags: [String]
        var nodes: [(name: String, kind: String)]
        var settings: WorkflowSettings
        var activate: Bool
        /// Runs to record: (mode, status) pairs.
        var runs: [(ExecutionMode, ExecutionStatus)]
    }

    static let blueprints: [Blueprint] = [
        Blueprint(
            name: "Demo: Shop orders to CRM",
            tags: ["crm", "sales"],
            nodes: [
                ("Order webhook", "n8n-nodes-base.webhook"), ("Map fields", "n8n-nodes-base.set"),
                ("Find customer", "n8n-nodes-base.httpRequest"), ("Upsert deal", "n8n-nodes-base.hubspot"),
            ],
            settings: WorkflowSettings(saveDataSuccessExecution: .all, saveDataErrorExecution: .all, retryOnCrash: 1, maxConcurrency: 4),
            activate: true,
            runs: Array(repeating: (.webhook, .success), count: 8) + [(.webhook, .failed), (.manual, .success)]
        ),
        Blueprint(
            name: "Demo: Nightly sales report",
            tags: ["reports"],
            nodes: [
                ("Every night", "n8n-nodes-base.scheduleTrigger"), ("Query sales", "n8n-nodes-base.postgres"),
                ("Build table", "n8n-nodes-base.code"), ("Email team", "n8n-nodes-base.emailSend"),
            ],
            settings: WorkflowSettings(saveDataSuccessExecution: WorkflowSettings.Keep.none, saveDataErrorExecution: .all),
            activate: true,
            runs: Array(repeating: (.trigger, .success), count: 5) + [(.trigger, .failed)]
        ),
        Blueprint(
            name: "Demo: Lead scoring (draft)",
            tags: ["sales"],
            nodes: [("New lead", "n8n-nodes-base.manualTrigger"), ("Score", "n8n-nodes-base.code")],
            settings: WorkflowSettings(saveManualExecutions: true),
            activate: false,
            runs: [(.manual, .success)]
        ),
    ]

    /// Creates the blueprints that do not exist yet. - Returns: One line per workflow.
    static func seed(pool: PostgresPool, logger: Logger) async throws -> [String] {
        let workflows = WorkflowService(pool: pool, logger: logger)
        let caller = Caller.job("seed")
        var lines: [String] = []
        for blueprint in blueprints {
            let existing = try await workflows.list(.init(name: blueprint.name), limit: 200, cursor: nil).items
            if let found = existing.first(where: { $0.name == blueprint.name }) {
                lines.append("exists  \(blueprint.name) (\(found.id.uuidString.lowercased())), left as it is")
                continue
            }
            let nodes = blueprint.nodes.map { JSONValue.object(["name": .string($0.name), "kind": .string($0.kind), "parameters": .object([:])]) }
            let connections = zip(blueprint.nodes, blueprint.nodes.dropFirst()).map {
                JSONValue.object(["source_node": .string($0.name), "target_node": .string($1.name), "kind": .string("main")])
            }
            var workflow = try await workflows.create(
                .init(name: blueprint.name, nodes: nodes, connections: connections, settings: blueprint.settings, tags: blueprint.tags),
                by: caller
            )
            if blueprint.activate { workflow = try await workflows.activate(workflow.id, by: caller) }
            // Their history: ended runs spread over the last days, recorded as they ended.
            let store = ExecutionStore(pool: pool)
            let history = blueprint.runs.enumerated().map { index, run in
                let (mode, status) = run
                let started = Date().addingTimeInterval(-Double(blueprint.runs.count - index) * 3_600 * 7)
                return ExecutionStore.EndedExecution(
                    new: .init(
                        id: UUID.v7(at: started),
                        workflowID: workflow.id,
                        versionID: workflow.activeVersionID ?? workflow.versionID,
                        mode: mode,
                        triggeredBy: "seed",
                        inputJSON: JSONValue.object(["order_id": .number(Double(10_000 + index)), "total": .number(Double(40 + index * 7))]).text
                    ),
                    status: status,
                    startedAt: started,
                    finishedAt: started.addingTimeInterval(0.4 + Double(index % 5) * 0.3),
                    resultJSON: status == .success && blueprint.settings.saveDataSuccessExecution != WorkflowSettings.Keep.none
                        ? JSONValue.object(["synced": .bool(true), "items": .number(Double(index + 1))]).text : nil,
                    errorMessage: status == .failed ? "HTTP 502 from the service on node \(blueprint.nodes.last?.name ?? "?")" : nil,
                    log: blueprint.nodes.map { ($0.name, "\($0.name): done") }
                )
            }
            try await pool.withTransaction { connection in
                for ended in history { try await store.insertEnded(ended, on: connection, logger: logger) }
            }
            lines.append(
                "created \(blueprint.name) (\(workflow.id.uuidString.lowercased())), \(workflow.status.rawValue), \(blueprint.runs.count) executions"
            )
        }
        return lines
    }
}

import Foundation
import HTTPTypes
import HummingbirdTesting
import PostgresNIO
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataTestSupport
import Testing

@testable import Factory

@Suite struct AnomalyLifecycleTests {
    typealias H = FactoryHarness

    @Test(.timeLimit(.minutes(2)))
    func anAnomalyGoesFromDetectionToAVerifiedFixAndACaseAndEveryIllegalStepIsRefused() async throws {
        try await H.withApp { client, headers, database in
            let created = try await H.expect(client, .post, "/api/factory/anomalies", headers, H.anomaly(), .created)
            #expect(created["status"] == .string("open") && created["factory_id"] == .string("F1"))
            let id = try #require(created["anomaly_id"]?.stringValue)

            // A station of another line, an unknown line: 422, nothing written.
            let wrongStation = try await H.expect(
                client,
                .post,
                "/api/factory/anomalies",
                headers,
                H.anomaly(line: "L1", station: "S2"),
                .unprocessableContent
            )
            #expect(wrongStation["code"] == .string("invalid_reference"))
            try await H.expect(client, .post, "/api/factory/anomalies", headers, H.anomaly(line: "L9", station: nil), .unprocessableContent)
            #expect(try await H.count(database, "SELECT count(*) FROM factory.anomalies") == 1)

            // An illegal transition names the allowed next states.
            let refused = try await H.expect(
                client,
                .post,
                "/api/factory/anomalies/\(id)/transition",
                headers,
                ["status": .string("cancelled"), "reason": .string("")],
                .unprocessableContent
            )
            #expect(refused["code"] == .string("validation_failed"))
            let skip = try await H.expect(
                client,
                .post,
                "/api/factory/anomalies/\(id)/transition",
                headers,
                ["status": .string("solution_pending")],
                .conflict
            )
            #expect(skip["code"] == .string("transition_refused"))
            try await H.expect(client, .post, "/api/factory/anomalies/\(id)/close", headers, nil, .conflict)

            try await H.expect(client, .post, "/api/factory/anomalies/\(id)/transition", headers, ["status": .string("diagnosing")])
            let bare = try await H.expect(client, .get, "/api/factory/anomalies/\(id)", headers)
            #expect(bare["solutions"] == .array([]) && bare["work_orders"] == .array([]))
            let first = try await H.expect(
                client,
                .post,
                "/api/factory/anomalies/\(id)/solutions",
                headers,
                [
                    "solution_type": .string("repair"), "solution_name": .string("Replace the nozzle"), "estimated_downtime_hours": .number(2.5),
                    "success_rate": .number(92), "expected_loss": .number(1200), "roi": .number(3.4),
                    "simulation_result": .object(["scrap_rate": .number(0.01)]),
                ],
                .created
            )
            let second = try await H.expect(
                client,
                .post,
                "/api/factory/anomalies/\(id)/solutions",
                headers,
                ["solution_type": .string("adjustment"), "solution_name": .string("Lower the current")],
                .created
            )
            let badRate = try await H.expect(
                client,
                .post,
                "/api/factory/anomalies/\(id)/solutions",
                headers,
                ["solution_type": .string("repair"), "solution_name": .string("x"), "success_rate": .number(140)],
                .unprocessableContent
            )
            #expect(badRate["errors"]?.arrayValue?.first?["field"] == .string("success_rate"))
            let (firstID, secondID) = (try #require(first["solution_id"]?.stringValue), try #require(second["solution_id"]?.stringValue))
            let proposed = try await H.expect(client, .get, "/api/factory/anomalies/\(id)", headers)
            #expect(proposed["anomaly"]?["status"] == .string("solution_pending"))
            // The detail holds the solutions as their own routes answered them, and no work order yet.
            #expect(proposed["solutions"] == .array([.object(first), .object(second)]) && proposed["work_orders"] == .array([]))

            try await H.expect(client, .post, "/api/factory/solutions/\(secondID)/recommend", headers)
            let recommended = try await H.expect(client, .post, "/api/factory/solutions/\(firstID)/recommend", headers)
            #expect(recommended["recommended"] == .bool(true))
            try await H.expect(client, .post, "/api/factory/solutions/\(firstID)/adopt", headers)
            let secondAdoption = try await H.expect(client, .post, "/api/factory/solutions/\(secondID)/adopt", headers, nil, .conflict)
            #expect(secondAdoption["code"] == .string("factory.solution_already_adopted"))
            #expect(try await H.count(database, "SELECT count(*) FROM factory.solutions WHERE adopted") == 1)
            #expect(try await H.count(database, "SELECT count(*) FROM factory.solutions WHERE recommended") == 1)

            let order = ["order_type": JSONValue.string("repair"), "instructions": .string("Swap nozzle 3"), "estimated_duration_hours": .number(2)]
            try await H.expect(client, .post, "/api/factory/solutions/\(secondID)/work-orders", headers, order, .conflict)
            let workOrder = try await H.expect(client, .post, "/api/factory/solutions/\(firstID)/work-orders", headers, order, .created)
            let orderID = try #require(workOrder["order_id"]?.stringValue)
            #expect(workOrder["status"] == .string("pending"))
            let executing = try await H.expect(client, .get, "/api/factory/anomalies/\(id)", headers)
            #expect(executing["anomaly"]?["status"] == .string("executing"))
            #expect(executing["solutions"]?.arrayValue?.count == 2 && executing["work_orders"] == .array([.object(workOrder)]))

            try await H.expect(
                client,
                .post,
                "/api/factory/work-orders/\(orderID)/complete",
                headers,
                ["execution_result": .string("success")],
                .conflict
            )
            let started = try await H.expect(client, .post, "/api/factory/work-orders/\(orderID)/start", headers)
            #expect(started["started_at"] != nil && started["status"] == .string("in_progress"))
            try await H.expect(client, .post, "/api/factory/work-orders/\(orderID)/complete", headers, [:], .unprocessableContent)
            let completed = try await H.expect(
                client,
                .post,
                "/api/factory/work-orders/\(orderID)/complete",
                headers,
                ["execution_result": .string("success"), "actual_loss": .number(900), "actual_duration_hours": .number(1.75)]
            )
            #expect(completed["completed_at"] != nil && completed["actual_duration_hours"] == .number(1.75))
            #expect(try await H.expect(client, .get, "/api/factory/anomalies/\(id)", headers)["anomaly"]?["status"] == .string("verifying"))

            // Closing needs a root cause and a verified result.
            let unverified = try await H.expect(
                client,
                .post,
                "/api/factory/anomalies/\(id)/close",
                headers,
                ["root_cause": .string("Worn nozzle")],
                .conflict
            )
            #expect(unverified["code"] == .string("transition_refused"))
            try await H.expect(client, .post, "/api/factory/work-orders/\(orderID)/verify", headers, ["accepted": .bool(true)])
            try await H.expect(client, .post, "/api/factory/anomalies/\(id)/close", headers, [:], .conflict)
            let closed = try await H.expect(
                client,
                .post,
                "/api/factory/anomalies/\(id)/close",
                headers,
                [
                    "root_cause": .string("Worn nozzle"),
                    "case": .object(["lessons_learned": .string("Inspect nozzles weekly"), "tags": .array([.string("Welding"), .string("nozzle")])]),
                ]
            )
            #expect(closed["anomaly"]?["status"] == .string("closed") && closed["anomaly"]?["closed_at"] != nil)
            let filed = try #require(closed["case"])
            #expect(filed["tags"] == .array([.string("welding"), .string("nozzle")]))
            #expect(filed["expected_effect"]?["success_rate"] == .number(92))
            #expect(filed["actual_effect"]?["actual_loss"] == .number(900))

            // The case is found by tag (the GIN index) and by text.
            let byTag = try await H.expect(client, .get, "/api/factory/cases?tags=welding,nozzle", headers)
            #expect(byTag["items"]?.arrayValue?.count == 1)
            #expect(try await H.expect(client, .get, "/api/factory/cases?tags=paint", headers)["items"]?.arrayValue?.count == 0)
            #expect(try await H.expect(client, .get, "/api/factory/cases?q=nozzles", headers)["items"]?.arrayValue?.count == 1)
            let plan = try await database.pool.withTransaction { connection in
                try await connection.run("SET LOCAL enable_seqscan = off", logger: database.pool.statementLogger)
                return try await connection.run(
                    "EXPLAIN SELECT case_id FROM factory.case_library WHERE tags @> ARRAY['welding']",
                    logger: database.pool.statementLogger
                ).collect().map { try $0.decode(String.self) }.joined(separator: "\n")
            }
            #expect(plan.contains("case_library_tags_idx"))

            // A closed anomaly is not edited; reopening is explicit and recorded.
            let edit = try await H.expect(client, .get, "/api/factory/anomalies/\(id)", headers)
            var ifMatch = headers
            ifMatch[.ifMatch] = "\"\(Int(edit["anomaly"]?["version"]?.numberValue ?? 0))\""
            let ended = try await H.expect(client, .patch, "/api/factory/anomalies/\(id)", ifMatch, ["severity": .string("low")], .conflict)
            #expect(ended["code"] == .string("factory.anomaly_ended"))
            try await H.expect(client, .post, "/api/factory/anomalies/\(id)/reopen", headers, [:], .badRequest)
            let reopened = try await H.expect(client, .post, "/api/factory/anomalies/\(id)/reopen", headers, ["reason": .string("Porosity is back")])
            #expect(reopened["status"] == .string("diagnosing") && reopened["reopen_count"] == .number(1) && reopened["closed_at"] == nil)
            let history = try await H.expect(client, .get, "/api/factory/anomalies/\(id)/history", headers)
            let steps = history["items"]?.arrayValue?.compactMap { $0["to"]?.stringValue } ?? []
            #expect(steps == ["open", "diagnosing", "solution_pending", "executing", "verifying", "closed", "diagnosing"])
            #expect(history["items"]?.arrayValue?.last?["reason"] == .string("Porosity is back"))
            #expect(try await H.count(database, "SELECT count(*) FROM factory.solutions WHERE adopted") == 0)

            // A stale edit is 412; every change is audited and has its event.
            var stale = headers
            stale[.ifMatch] = "\"1\""
            try await H.expect(client, .patch, "/api/factory/anomalies/\(id)", stale, ["severity": .string("low")], .preconditionFailed)
            #expect(
                try await H.count(database, "SELECT count(*) FROM factory.audit_logs WHERE action = 'reopen' AND resource_id = lower('\(id)')") == 1
            )
            #expect(try await H.count(database, "SELECT count(*) FROM strata.outbox WHERE app = 'factory' AND kind = 'anomaly.reopened'") == 1)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aFailedWorkOrderSendsTheAnomalyBackForAnotherSolutionAndCancellingEndsItsOrder() async throws {
        try await H.withApp { client, headers, database in
            let id = try #require(
                try await H.expect(client, .post, "/api/factory/anomalies", headers, H.anomaly(), .created)["anomaly_id"]?.stringValue
            )
            try await H.expect(client, .post, "/api/factory/anomalies/\(id)/transition", headers, ["status": .string("diagnosing")])
            let solution = try await H.expect(
                client,
                .post,
                "/api/factory/anomalies/\(id)/solutions",
                headers,
                ["solution_type": .string("workaround"), "solution_name": .string("Slow the line")],
                .created
            )
            let solutionID = try #require(solution["solution_id"]?.stringValue)
            try await H.expect(client, .post, "/api/factory/solutions/\(solutionID)/adopt", headers)
            let order = ["order_type": JSONValue.string("adjustment")]
            let first = try #require(
                try await H.expect(client, .post, "/api/factory/solutions/\(solutionID)/work-orders", headers, order, .created)["order_id"]?
                    .stringValue
            )
            try await H.expect(client, .post, "/api/factory/work-orders/\(first)/start", headers)
            let failed = try await H.expect(client, .post, "/api/factory/work-orders/\(first)/fail", headers, ["notes": .string("No effect")])
            #expect(failed["execution_result"] == .string("failure") && failed["status"] == .string("failed"))
            #expect(try await H.expect(client, .get, "/api/factory/anomalies/\(id)", headers)["anomaly"]?["status"] == .string("solution_pending"))

            // Adopted again, a second order; cancelling the anomaly cancels it.
            try await H.expect(client, .post, "/api/factory/solutions/\(solutionID)/adopt", headers)
            let second = try #require(
                try await H.expect(client, .post, "/api/factory/solutions/\(solutionID)/work-orders", headers, order, .created)["order_id"]?
                    .stringValue
            )
            let cancelled = try await H.expect(
                client,
                .post,
                "/api/factory/anomalies/\(id)/transition",
                headers,
                ["status": .string("cancelled"), "reason": .string("Line retired")]
            )
            #expect(cancelled["status"] == .string("cancelled"))
            #expect(try await H.expect(client, .get, "/api/factory/work-orders/\(second)", headers)["status"] == .string("cancelled"))
            try await H.expect(client, .post, "/api/factory/anomalies/\(id)/transition", headers, ["status": .string("diagnosing")], .conflict)
            let orders = try await H.expect(client, .get, "/api/factory/work-orders?line_id=L1&status=failed", headers)
            #expect(orders["items"]?.arrayValue?.count == 1)
            #expect(try await H.count(database, "SELECT count(*) FROM factory.work_orders") == 2)
        }
    }
}

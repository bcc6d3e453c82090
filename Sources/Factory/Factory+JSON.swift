public import StrataCore

// The factory's responses written without `JSONEncoder` (``JSONWritable``): the same bytes as
// their `Encodable` conformances, keys in sorted order; `JSONWritingTests` compares the two.

extension Anomaly: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("anomaly_id", anomalyID)
            json.field("assigned_to", assignedTo)
            json.field("closed_at", closedAt)
            json.field("created_at", createdAt)
            json.field("created_by", createdBy)
            json.field("defect_type", defectType)
            json.field("description", description)
            json.field("detected_at", detectedAt)
            json.field("factory_id", factoryID)
            json.field("line_id", lineID)
            json.field("reopen_count", reopenCount)
            json.field("root_cause", rootCause)
            json.field("severity", severity)
            json.field("station_id", stationID)
            json.field("status", status)
            json.field("updated_at", updatedAt)
            json.field("version", version)
        }
    }
}

extension Solution: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("adopted", adopted)
            json.field("anomaly_id", anomalyID)
            json.field("created_at", createdAt)
            json.field("created_by", createdBy)
            json.field("description", description)
            json.field("estimated_downtime_hours", estimatedDowntimeHours)
            json.field("expected_loss", expectedLoss)
            json.field("factory_id", factoryID)
            json.field("line_id", lineID)
            json.field("recommended", recommended)
            json.field("roi", roi)
            json.field("simulation_result", simulationResult)
            json.field("solution_id", solutionID)
            json.field("solution_name", solutionName)
            json.field("solution_type", solutionType)
            json.field("success_rate", successRate)
            json.field("updated_at", updatedAt)
            json.field("version", version)
        }
    }
}

extension WorkOrder: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("actual_duration_hours", actualDurationHours)
            json.field("actual_loss", actualLoss)
            json.field("anomaly_id", anomalyID)
            json.field("completed_at", completedAt)
            json.field("created_at", createdAt)
            json.field("created_by", createdBy)
            json.field("estimated_duration_hours", estimatedDurationHours)
            json.field("execution_result", executionResult)
            json.field("factory_id", factoryID)
            json.field("instructions", instructions)
            json.field("line_id", lineID)
            json.field("notes", notes)
            json.field("order_id", orderID)
            json.field("order_type", orderType)
            json.field("responsible_user_id", responsibleUserID)
            json.field("result_verified", resultVerified)
            json.field("solution_id", solutionID)
            json.field("started_at", startedAt)
            json.field("status", status)
            json.field("updated_at", updatedAt)
            json.field("version", version)
        }
    }
}

extension AnomalyService.Detail: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("anomaly", anomaly)
            json.field("solutions", solutions)
            json.field("work_orders", workOrders)
        }
    }
}

extension LineOverview: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("factory_id", factoryID)
            json.field("generated_at", generatedAt)
            json.field("last_hour", lastHour)
            json.field("line_id", lineID)
            json.field("line_name", lineName)
            json.key("open_anomalies")
            json.object(openAnomalies) { $0.value($1) }
            json.field("status", status)
            json.field("version", version)
            json.key("work_orders")
            json.object(workOrders) { $0.value($1) }
        }
    }
}

extension LineOverview.LastHour: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("cycle_time", cycleTime)
            json.field("from", from)
            json.field("yield_rate", yieldRate)
        }
    }
}

extension MetricsService.Summary: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("count", count)
            json.field("max", orNull: max)
            json.field("mean", orNull: mean)
            json.field("min", orNull: min)
        }
    }
}

extension GraphNode: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("anomaly_id", anomalyID)
            json.field("confidence", confidence)
            json.field("created_at", createdAt)
            json.field("created_by", createdBy)
            json.field("factory_id", factoryID)
            json.field("kind", kind)
            json.field("label", label)
            json.field("line_id", lineID)
            json.field("node_id", nodeID)
            json.field("properties", properties)
            json.field("updated_at", updatedAt)
            json.field("version", version)
        }
    }
}

extension RankedCause: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("depth", depth)
            json.field("evidence", evidence)
            json.field("node", node)
            json.field("path", path)
            json.field("path_confidence", pathConfidence)
        }
    }
}

extension ExplainedProblem: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("depth", depth)
            json.field("node", node)
            json.field("path", path)
        }
    }
}

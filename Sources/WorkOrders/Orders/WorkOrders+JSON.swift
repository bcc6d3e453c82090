public import StrataCore

// The app's hot types write their own JSON (see `JSONWritable`): orders are written with every
// detail, progress report and event, summaries twenty to a list page. Keys in sorted order,
// `nil` optionals left out, as their `Encodable` conformances (the reference) have it.

extension WorkOrder: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("code", code)
            json.field("completed_quantity", completedQuantity)
            json.field("created_at", createdAt)
            json.field("customer_access", customerAccess)
            json.field("defective_quantity", defectiveQuantity)
            json.field("description", description)
            json.field("end_at", endAt)
            json.field("id", id)
            json.field("owner_id", ownerID)
            json.field("owner_name", ownerName)
            json.field("priority", priority)
            json.field("procurement", procurement)
            json.field("start_at", startAt)
            json.field("status", status)
            json.field("steps", steps)
            json.field("target_quantity", targetQuantity)
            json.field("title", title)
            json.field("updated_at", updatedAt)
            json.field("version", version)
            json.field("watchers", watchers)
        }
    }
}

extension WorkOrder.Procurement: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("auto_notify", autoNotify)
            json.field("target_factory_id", targetFactoryID)
            json.field("target_factory_name", targetFactoryName)
        }
    }
}

extension WorkOrderStep: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("assignee_id", assigneeID)
            json.field("assignee_name", assigneeName)
            json.field("completed_quantity", completedQuantity)
            json.field("defective_quantity", defectiveQuantity)
            json.field("estimated_completion_at", estimatedCompletionAt)
            json.field("expected_quantity", expectedQuantity)
            json.field("status", status)
            json.field("step_code", stepCode)
            json.field("step_name", stepName)
        }
    }
}

extension WorkOrderSummary: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("code", code)
            json.field("completed_quantity", completedQuantity)
            json.field("created_at", createdAt)
            json.field("customer_access_status", customerAccessStatus)
            json.field("defective_quantity", defectiveQuantity)
            json.field("end_at", endAt)
            json.field("id", id)
            json.field("owner_id", ownerID)
            json.field("owner_name", ownerName)
            json.field("priority", priority)
            json.field("start_at", startAt)
            json.field("status", status)
            json.field("target_quantity", targetQuantity)
            json.field("title", title)
            json.field("updated_at", updatedAt)
            json.field("version", version)
            json.field("watchers", watchers)
        }
    }
}

extension CustomerAccess: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("company", company)
            json.field("confirmed_at", confirmedAt)
            json.field("confirmed_by", confirmedBy)
            json.field("contact_phone", contactPhone)
            json.field("created_at", createdAt)
            json.field("customer_name", customerName)
            json.field("id", id)
            json.field("login", login)
            json.field("status", status)
            json.field("work_order_id", workOrderID)
        }
    }
}

extension ProgressLog: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("completed_quantity", completedQuantity)
            json.field("confirmation_mode", confirmationMode)
            json.field("confirmed_at", confirmedAt)
            json.field("confirmed_by", confirmedBy)
            json.field("defective_quantity", defectiveQuantity)
            json.field("id", id)
            json.field("note", note)
            json.field("reported_quantity", reportedQuantity)
            json.field("reporter", reporter)
            json.field("step_code", stepCode)
            json.field("work_order_id", workOrderID)
        }
    }
}

import Foundation
import Hummingbird
import StrataCore
import StrataHTTP

extension WorkOrdersController {
    struct CodeRequest: Decodable {
        var code: String
    }

    struct Suspension: Decodable {
        var reason: String?
    }

    struct CodeOrder: Decodable {
        var tier: String
        var durationDays: Int
        var purpose: String?
        enum CodingKeys: String, CodingKey {
            case tier, purpose
            case durationDays = "duration_days"
        }
    }

    func addLicenseRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let licenses = router.group("/api/workorders/licenses")
        licenses.get("plans") { _, context in
            try context.requirePermission("workorders.read")
            return Page.complete(WorkOrdersService.plans)
        }
        licenses.get("status") { _, context in
            try context.requirePermission("workorders.read")
            return try Response.json(try await service.licenseStatus())
        }
        licenses.post("activate") { request, context in
            let caller = try context.caller(requiring: "workorders.admin")
            let body = try await request.decodeJSON(as: CodeRequest.self, context: context)
            return try Response.json(try await service.activate(code: body.code, by: caller))
        }
        licenses.post("renew") { request, context in
            let caller = try context.caller(requiring: "workorders.admin")
            let body = try await request.decodeJSON(as: CodeRequest.self, context: context)
            return try Response.json(try await service.renew(code: body.code, by: caller))
        }
        licenses.post("suspend") { request, context in
            let caller = try context.caller(requiring: "workorders.admin")
            let body = try await request.decodeJSONIfPresent(as: Suspension.self, context: context)
            return try Response.json(try await service.suspend(reason: body?.reason, by: caller))
        }
        licenses.post("resume") { _, context in
            let caller = try context.caller(requiring: "workorders.admin")
            return try Response.json(try await service.resume(by: caller))
        }
        licenses.post("codes") { request, context in
            let caller = try context.caller(requiring: "workorders.admin")
            let body = try await request.decodeJSON(as: CodeOrder.self, context: context)
            var errors: [StrataError.FieldError] = []
            let tier = LicenseTier(rawValue: body.tier.lowercased())
            if tier == nil { errors.append(.init(field: "tier", reason: "must be one of starter, professional, enterprise")) }
            let purpose = ActivationCode.Purpose(rawValue: (body.purpose ?? "activation").lowercased())
            if purpose == nil { errors.append(.init(field: "purpose", reason: "must be one of activation, renewal, upgrade")) }
            if ![90, 180, 365].contains(body.durationDays) { errors.append(.init(field: "duration_days", reason: "must be 90, 180 or 365")) }
            guard errors.isEmpty, let tier, let purpose else { throw StrataError.validation(errors) }
            let issued = try await service.issueActivationCode(tier: tier, durationDays: body.durationDays, purpose: purpose, by: caller)
            return try Response.json(issued, status: .created)
        }
    }
}

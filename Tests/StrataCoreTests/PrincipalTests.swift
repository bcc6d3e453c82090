import StrataCore
import Testing

@Suite struct PrincipalTests {
    func principal(_ permissions: Set<String>) -> Principal {
        Principal(id: "1", name: "ci", kind: .apiKey, permissions: permissions)
    }

    @Test(
        arguments: [
            (["admin"], "workorders.write", true),
            (["events.read"], "events.read", true),
            (["read"], "events.read", false),
            (["write"], "simjobs.write", false),
            (["simjobs.write"], "workorders.write", false),
            (["simjobs.*"], "simjobs.admin", true),
            (["workorders.*"], "workorders.delete", true),
            (["workorders.*"], "helpdesk.read", false),
            (["workorders.write"], "workorders.write", true),
            (["workorders.write"], "workorders.read", false),
            ([], "events.read", false),
        ] as [(Set<String>, String, Bool)]
    )
    func permissionRules(held: Set<String>, asked: String, granted: Bool) {
        #expect(principal(held).has(asked) == granted)
    }

    @Test func requireNamesTheMissingPermission() {
        #expect(throws: StrataError.self) { try principal(["events.read"]).require("events.write") }
        #expect(principal(["events.read"]).actor == "api_key:ci")
    }
}

@Suite struct PrincipalScopeTests {
    @Test func scopesLimitValuesUnlessAbsentOrAdmin() {
        let operator1 = Principal(id: "u", name: "op", kind: .user, permissions: ["conv.write"], scopes: ["line_ids": ["L1", "L2"]])
        #expect(operator1.scopeValues("line_ids") == ["L1", "L2"])
        #expect(operator1.scopeValues("factory_ids") == nil)
        #expect(operator1.allows("L1", in: "line_ids") && !operator1.allows("L9", in: "line_ids"))
        #expect(throws: StrataError.self) { try operator1.requireScope("line_ids", contains: "L9") }
        let admin = Principal(id: "a", name: "root", kind: .user, permissions: ["admin"], scopes: ["line_ids": ["L1"]])
        #expect(admin.allows("L9", in: "line_ids"))
    }
}

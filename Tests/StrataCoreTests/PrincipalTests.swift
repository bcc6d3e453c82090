import StrataCore
import Testing

@Suite struct PrincipalTests {
    func principal(_ permissions: Set<String>) -> Principal {
        Principal(id: "1", name: "ci", kind: .apiKey, permissions: permissions)
    }

    @Test(
        arguments: [
            (["admin"], "workorders.write", true),
            (["read"], "events.read", true),
            (["read"], "events.write", false),
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
        #expect(throws: StrataError.self) { try principal(["read"]).require("events.write") }
        #expect(principal(["read"]).actor == "api_key:ci")
    }
}

import StrataCore
import Testing

@Suite struct StrataErrorTests {
    @Test func equalityComparesCodesOnly() {
        #expect(StrataError(.conflict, "a") == StrataError(.conflict, "b"))
        #expect(StrataError(.conflict, "a") != StrataError(.notFound, "a"))
    }

    @Test func patternMatchingOnCodes() {
        let error: any Error = StrataError(.databaseBusy, "busy")
        switch error {
        case StrataError.Code.databaseBusy: break
        default: Issue.record("expected databaseBusy to match")
        }
        #expect(StrataError(.databaseBusy, "").isRetryable)
        #expect(!StrataError(.conflict, "").isRetryable)
    }

    @Test func modulesCanAddCodes() {
        let ticketMissing = StrataError.Code("helpdesk.ticket_not_found", kind: .notFound)
        #expect(StrataError(ticketMissing, "no such ticket").description == "helpdesk.ticket_not_found: no such ticket")
    }

    @Test func debugDescriptionCarriesTheUnderlyingErrorAndLocation() {
        struct Cause: Error {}
        let error = StrataError(.internalError, "boom", details: ["k": "v"], underlying: Cause())
        #expect(error.debugDescription.contains("Cause"))
        #expect(error.debugDescription.contains("StrataErrorTests.swift"))
        #expect(!error.description.contains("Cause"))
    }
}

@Suite struct StrataErrorRedactionTests {
    @Test func anUnderlyingErrorWithoutItsOwnDescriptionIsNotReflected() {
        struct LoginFailed: Error { var password = "hunter2" }
        let error = StrataError(.internalError, "Unexpected error.", underlying: LoginFailed())
        #expect(!String(reflecting: error).contains("hunter2"))
        #expect(String(reflecting: error).contains("LoginFailed (contents not shown)"))
    }
}

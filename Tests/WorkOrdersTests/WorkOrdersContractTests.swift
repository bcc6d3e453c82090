import Foundation
import HummingbirdBcrypt
import StrataCore
import StrataPostgres
import Synchronization
import Testing

@testable import WorkOrders

/// The rules of the app, run against both stores: whatever passes here with the memory store
/// passes with PostgreSQL, and the other way round.
@Suite struct WorkOrdersContractTests {
    static let stores: [WorkOrdersModule.Store] = [.memory, .postgres]

    @Test(.timeLimit(.minutes(1)), arguments: stores)
    func createReadAndListNewestFirstWithCursors(store: WorkOrdersModule.Store) async throws {
        try await withRepository(store) { repository in
            let service = service(repository)
            let first = try await service.create(weldingDraft(), by: manager)
            #expect(first.code.range(of: #"^WO-\d{6}-\d{3,}$"#, options: .regularExpression) != nil, "generated code \(first.code)")
            #expect(first.status == .planned && first.version == 1)
            #expect(first.watchers == ["Wang Qiang", "Li Na", "Zhao Peng"], "owner first, trimmed, no blanks or repeats")
            #expect(first.steps.map(\.stepCode) == ["step-1", "step-2"] && first.steps.allSatisfy { $0.status == .planned })
            #expect(first.procurement.targetFactoryName == "Dongguan Qiming")
            let read = try await service.order(first.id)
            #expect(read == first)

            let second = try await service.create(weldingDraft(code: "WO-CUSTOM-1"), by: manager)
            let third = try await service.create(WorkOrderDraft(title: "Packing", priority: .low, ownerID: "m2", ownerName: "Liu Chen"), by: manager)
            await #expect(throws: StrataError.code(.orderCodeTaken)) { try await service.create(weldingDraft(code: "WO-CUSTOM-1"), by: manager) }

            let page1 = try await service.orders(.init(), limit: 2, cursor: nil)
            #expect(page1.items.map(\.id) == [third.id, second.id])
            let cursor = try Cursor(decoding: try #require(page1.nextCursor))
            let page2 = try await service.orders(.init(), limit: 2, cursor: cursor)
            #expect(page2.items.map(\.id) == [first.id] && page2.nextCursor == nil)
            #expect(try await service.orders(.init(priority: .low), limit: 10, cursor: nil).items.map(\.id) == [third.id])
            #expect(try await service.orders(.init(ownerID: "m2"), limit: 10, cursor: nil).items.map(\.id) == [third.id])
            #expect(try await service.orders(.init(), limit: 10, cursor: nil, scope: [second.id]).items.map(\.id) == [second.id])
            await #expect(throws: StrataError.code(.notFound)) { try await service.order(first.id, scope: [second.id]) }
            await #expect(throws: StrataError.code(.notFound)) { try await service.order(UUID()) }
        }
    }

    @Test(.timeLimit(.minutes(1)), arguments: stores)
    func progressIsClampedAndMovesStepsAndTheOrderAlong(store: WorkOrdersModule.Store) async throws {
        try await withRepository(store) { repository in
            let service = service(repository)
            let order = try await service.create(weldingDraft(), by: manager)
            let (started, log) = try await service.recordProgress(order.id, step: "step-1", report(4, defective: 1), by: manager)
            #expect(started.status == .inProgress && started.step("step-1")?.status == .inProgress)
            #expect(started.completedQuantity == 4 && started.defectiveQuantity == 1 && started.version == 2)
            #expect(log.completedQuantity == 4 && log.reportedQuantity == 4 && log.confirmationMode == .fingerprint)

            let (clamped, clampedLog) = try await service.recordProgress(order.id, step: "step-1", report(50, defective: 2, mode: .dual), by: manager)
            #expect(clamped.step("step-1")?.completedQuantity == 10, "never past the expected quantity")
            #expect(clampedLog.completedQuantity == 6 && clampedLog.reportedQuantity == 50 && clampedLog.confirmedBy == ["Li Na", "Zhao Peng"])
            #expect(clamped.step("step-1")?.status == .completed && clamped.status == .inProgress)
            #expect(clamped.defectiveQuantity == 3, "defective units accumulate")

            let (done, _) = try await service.recordProgress(order.id, step: "step-2", report(5), by: manager)
            #expect(done.status == .completed && done.completedQuantity == 15)
            let moves = try await service.statusHistory(of: order.id).map { "\($0.from ?? "-")→\($0.to) \($0.reason ?? "")" }
            #expect(moves == ["-→PLANNED ", "PLANNED→IN_PROGRESS progress on step-1", "IN_PROGRESS→COMPLETED progress on step-2"])
            await #expect(throws: StrataError.code(.orderClosed)) {
                try await service.recordProgress(order.id, step: "step-2", report(1), by: manager)
            }
            await #expect(throws: StrataError.code(.notFound)) { try await service.recordProgress(order.id, step: "nope", report(1), by: manager) }
            await #expect(throws: StrataError.code(.validationFailed)) {
                try await service.recordProgress(order.id, step: "step-1", report(-1), by: manager)
            }
            await #expect(throws: StrataError.code(.validationFailed)) {
                let oneConfirmer = ProgressReport(completedQuantity: 1, confirmation: .init(mode: .dual, confirmedBy: ["Li Na"]))
                try await service.recordProgress(order.id, step: "step-1", oneConfirmer, by: manager)
            }
            let logs = try await service.progressLogs(of: order.id, afterID: 0, limit: 10)
            #expect(logs.map(\.completedQuantity) == [4, 6, 5])
            let kinds = try await repository.events(of: order.id).map(\.kind)
            #expect(
                kinds == [
                    "work_order.created", "work_order.progress_recorded", "work_order.status_changed", "work_order.progress_recorded",
                    "work_order.progress_recorded", "work_order.status_changed",
                ]
            )
        }
    }

    @Test(.timeLimit(.minutes(1)), arguments: stores)
    func twentyConcurrentReportsKeepTheTotalsConsistent(store: WorkOrdersModule.Store) async throws {
        try await withRepository(store) { repository in
            let service = service(repository)
            var draft = weldingDraft()
            draft.steps = [StepDraft(stepCode: "s", stepName: "Assembly", expectedQuantity: 50)]
            let order = try await service.create(draft, by: manager)
            // 16 reports of 3 leave 2 to do: the 17th applies 2 (clamped) and completes the order;
            // the 3 after it find it closed. In whatever order they run.
            let outcomes = try await withThrowingTaskGroup(of: Int?.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        do {
                            return try await service.recordProgress(order.id, step: "s", report(3, defective: 1), by: manager).1.completedQuantity
                        } catch let error as StrataError where error.code == .orderClosed {
                            return nil
                        }
                    }
                }
                return try await group.reduce(into: [Int?]()) { $0.append($1) }
            }
            let applied = outcomes.compactMap { $0 }
            #expect(applied.count == 17 && applied.reduce(0, +) == 50 && applied.filter { $0 == 2 }.count == 1)
            let final = try await service.order(order.id)
            #expect(final.completedQuantity == 50 && final.step("s")?.completedQuantity == 50 && final.defectiveQuantity == 17)
            #expect(final.status == .completed && final.version == 18)
            let logs = try await service.progressLogs(of: order.id, afterID: 0, limit: 100)
            #expect(logs.count == 17 && logs.map(\.completedQuantity).reduce(0, +) == 50)
        }
    }

    @Test(.timeLimit(.minutes(1)), arguments: stores)
    func statusChangesFollowTheStateMachine(store: WorkOrdersModule.Store) async throws {
        try await withRepository(store) { repository in
            let service = service(repository)
            let order = try await service.create(weldingDraft(), by: manager)
            do {
                _ = try await service.changeStatus(order.id, to: .completed, ifVersion: nil, by: manager)
                Issue.record("completing with open steps must be refused")
            } catch let error as StrataError {
                #expect(error.code == .transitionRefused && error.details["open_steps"] == "step-1,step-2")
            }
            await #expect(throws: StrataError.code(.preconditionFailed)) {
                try await service.changeStatus(order.id, to: .cancelled, ifVersion: 7, by: manager)
            }
            let cancelled = try await service.changeStatus(order.id, to: .cancelled, ifVersion: 1, reason: "customer withdrew", by: manager)
            #expect(cancelled.status == .cancelled && cancelled.version == 2)
            do {
                _ = try await service.changeStatus(order.id, to: .inProgress, ifVersion: nil, by: manager)
                Issue.record("a cancelled order cannot start")
            } catch let error as StrataError {
                #expect(error.code == .transitionRefused && error.details["allowed_next"] == "")
            }
            let messages = try await service.messages(of: order.id, afterID: 0, limit: 10)
            #expect(messages.map(\.kind) == [.system] && messages[0].body.contains("customer withdrew"))
            let history = try await service.statusHistory(of: order.id)
            #expect(history.map { "\($0.from ?? "-")→\($0.to)" } == ["-→PLANNED", "PLANNED→CANCELLED"])
            #expect(history.last?.reason == "customer withdrew" && history.allSatisfy { $0.actor == "user:manager-001" && $0.changedAt != nil })
            await #expect(throws: StrataError.code(.notFound)) { try await service.statusHistory(of: order.id, scope: [UUID()]) }
            await #expect(throws: StrataError.code(.orderClosed)) {
                try await service.update(order.id, WorkOrderPatch(title: "late"), ifVersion: 2, by: manager)
            }
        }
    }

    @Test(.timeLimit(.minutes(1)), arguments: stores)
    func updatesCheckTheVersionAndMergeSteps(store: WorkOrdersModule.Store) async throws {
        try await withRepository(store) { repository in
            let service = service(repository)
            let order = try await service.create(weldingDraft(), by: manager)
            _ = try await service.create(weldingDraft(code: "TAKEN"), by: manager)
            await #expect(throws: StrataError.code(.preconditionFailed)) {
                try await service.update(order.id, WorkOrderPatch(title: "x"), ifVersion: 5, by: manager)
            }
            var patch = WorkOrderPatch(
                title: "Welding, second batch",
                priority: .low,
                watchers: ["Chen Si"],
                steps: [
                    StepDraft(stepCode: "step-2", assigneeName: "Chen Si"), StepDraft(stepCode: "step-3", stepName: "Packing", expectedQuantity: 0),
                ]
            )
            let updated = try await service.update(order.id, patch, ifVersion: 1, by: manager)
            #expect(updated.title == "Welding, second batch" && updated.priority == .low && updated.version == 2)
            #expect(updated.watchers == ["Wang Qiang", "Chen Si"])
            #expect(updated.steps.map(\.stepCode) == ["step-1", "step-2", "step-3"])
            #expect(updated.step("step-2")?.assigneeName == "Chen Si" && updated.step("step-2")?.stepName == "Inspection")
            #expect(updated.step("step-3")?.status == .completed, "nothing expected: done")
            #expect(try await service.order(order.id) == updated)

            patch = WorkOrderPatch()
            patch.code = "TAKEN"
            await #expect(throws: StrataError.code(.orderCodeTaken)) { try await service.update(order.id, patch, ifVersion: 2, by: manager) }
            _ = try await service.recordProgress(order.id, step: "step-1", report(6), by: manager)
            await #expect(throws: StrataError.code(.validationFailed)) {
                try await service.update(
                    order.id,
                    WorkOrderPatch(steps: [StepDraft(stepCode: "step-1", expectedQuantity: 5)]),
                    ifVersion: 3,
                    by: manager
                )
            }
            await #expect(throws: StrataError.code(.validationFailed)) {
                try await service.update(order.id, WorkOrderPatch(steps: [StepDraft(stepCode: "new-step")]), ifVersion: 3, by: manager)
            }
            #expect(try await service.order(order.id).version == 3, "refused changes wrote nothing")
            try await service.delete(order.id, ifVersion: 3, by: manager)
            await #expect(throws: StrataError.code(.notFound)) { try await service.order(order.id) }
            await #expect(throws: StrataError.code(.notFound)) { try await service.delete(order.id, ifVersion: 3, by: manager) }
        }
    }

    @Test(.timeLimit(.minutes(1)), arguments: stores)
    func aFailingUnitLeavesNothingBehind(store: WorkOrdersModule.Store) async throws {
        try await withRepository(store) { repository in
            let service = service(repository)
            let order = try await service.create(weldingDraft(), by: manager)
            struct Boom: Error {}
            await #expect(throws: Boom.self) {
                try await repository.write { unit in
                    var changed = try #require(try await unit.lockOrder(order.id))
                    changed.title = "half-written"
                    _ = try await unit.updateOrder(changed, steps: [])
                    _ = try await unit.appendMessage(NewMessage(workOrderID: order.id, kind: .text, role: .member, body: "lost", createdBy: "x"))
                    throw Boom()
                }
            }
            #expect(try await service.order(order.id) == order)
            #expect(try await repository.messages(of: order.id, afterID: 0, limit: 10).isEmpty)
            #expect(try await repository.events(of: order.id).map(\.kind) == ["work_order.created"])
        }
    }

    @Test(.timeLimit(.minutes(1)), arguments: stores)
    func customerAccessHasAHashedPasswordShownOnceAndConfirmsOnce(store: WorkOrdersModule.Store) async throws {
        try await withRepository(store) { repository in
            let service = service(repository)
            let order = try await service.create(weldingDraft(), by: manager)
            let issued = try await service.createCustomerAccess(
                .init(customerName: " Huaqiang ", company: "Huaqiang Electronics", contactPhone: "138 0000 8888"),
                on: order.id,
                by: manager
            )
            #expect(issued.access.login.range(of: "^cust-[a-z0-9]{8}$", options: .regularExpression) != nil)
            #expect(issued.password.count == 10 && issued.access.status == .active && issued.access.customerName == "Huaqiang")
            let credential = try #require(try await repository.customerCredential(login: issued.access.login))
            #expect(credential.passwordHash.hasPrefix("$2") && !credential.passwordHash.contains(issued.password))
            #expect(Bcrypt.verify(issued.password, hash: credential.passwordHash))
            #expect(try await service.order(order.id).customerAccess == issued.access)

            let confirmed = try await service.confirmCustomerAccess(issued.access.id, on: order.id, confirmedBy: "Wang Qiang", by: manager)
            #expect(confirmed.status == .confirmed && confirmed.confirmedBy == "Wang Qiang" && confirmed.confirmedAt != nil)
            let again = try await service.confirmCustomerAccess(issued.access.id, on: order.id, confirmedBy: "someone else", by: manager)
            #expect(again == confirmed, "confirming twice changes nothing")
            #expect(
                try await repository.events(of: order.id).map(\.kind).filter { $0.hasPrefix("customer") } == [
                    "customer_access.created", "customer_access.confirmed",
                ]
            )
            await #expect(throws: StrataError.code(.notFound)) {
                try await service.confirmCustomerAccess(UUID(), on: order.id, confirmedBy: nil, by: manager)
            }
            await #expect(throws: StrataError.code(.validationFailed)) {
                try await service.createCustomerAccess(.init(customerName: "  "), on: order.id, by: manager)
            }
        }
    }

    @Test(.timeLimit(.minutes(1)), arguments: stores)
    func quickRepliesAreAPerUserListWithoutRepeats(store: WorkOrdersModule.Store) async throws {
        try await withRepository(store) { repository in
            let service = service(repository)
            let added = try await service.addQuickReplies(["On my way", " On my way ", "Done"], to: "worker-001", by: manager)
            #expect(added.map(\.content) == ["On my way", "Done"])
            let again = try await service.addQuickReplies(["Done", "Need parts"], to: "worker-001", by: manager)
            #expect(again.map(\.content) == ["On my way", "Done", "Need parts"])
            #expect(try await service.quickReplies(of: "someone-else").isEmpty)
            let removed = try await service.removeQuickReplies(["Done", "never had it"], from: "worker-001", by: manager)
            #expect(removed.map(\.content) == ["On my way", "Need parts"])
            await #expect(throws: StrataError.code(.validationFailed)) { try await service.addQuickReplies([], to: "worker-001", by: manager) }
        }
    }

    @Test(.timeLimit(.minutes(2)), arguments: stores)
    func licencesFollowTheirRules(store: WorkOrdersModule.Store) async throws {
        try await withRepository(store) { repository in
            let clock = TestClock()
            let service = service(repository, now: { clock.now })
            #expect(try await service.licenseStatus().license.status == .inactive)
            await #expect(throws: StrataError.code(.licenseStateRefused)) { try await service.suspend(reason: nil, by: manager) }
            let code = try await service.issueActivationCode(tier: .professional, durationDays: 90, purpose: .activation, by: manager)
            #expect(code.code.range(of: "^WOL-[A-Z0-9]{8}-[A-Z0-9]{16}$", options: .regularExpression) != nil)
            await #expect(throws: StrataError.code(.activationCodeInvalid)) {
                try await service.activate(code: "WOL-AAAAAAAA-BBBBBBBBBBBBBBBB", by: manager)
            }
            await #expect(throws: StrataError.code(.activationCodeInvalid)) { try await service.activate(code: "nonsense", by: manager) }

            let active = try await service.activate(code: " " + code.code.lowercased() + " ", by: manager)
            #expect(active.license.status == .active && active.license.tier == .professional && active.license.seats == 40)
            #expect(active.license.ocrCredits == 6000 && active.remainingDays == 90 && active.plan?.name == "智控版")
            await #expect(throws: StrataError.code(.activationCodeInvalid)) { try await service.renew(code: code.code, by: manager) }

            clock.advance(days: 30)
            let renewal = try await service.issueActivationCode(tier: .enterprise, durationDays: 365, purpose: .renewal, by: manager)
            let renewed = try await service.renew(code: renewal.code, by: manager)
            #expect(renewed.remainingDays == 60 + 365, "renewal extends from the current expiry, not from now")
            #expect(renewed.license.tier == .enterprise && renewed.license.seats == 120)

            let suspended = try await service.suspend(reason: "unpaid invoice", by: manager)
            #expect(suspended.license.status == .suspended && suspended.license.suspensionReason == "unpaid invoice")
            let resumed = try await service.resume(by: manager)
            #expect(resumed.license.status == .active && resumed.license.suspensionReason == nil)
            await #expect(throws: StrataError.code(.licenseStateRefused)) { try await service.resume(by: manager) }

            _ = try await service.suspend(reason: nil, by: manager)
            clock.advance(days: 500)
            await #expect(throws: StrataError.code(.licenseStateRefused)) { try await service.resume(by: manager) }
            #expect(try await service.licenseStatus().license.status == .expired, "kept expired after the refused resume")
        }
    }

    @Test(.timeLimit(.minutes(1)), arguments: stores)
    func messagesCountAsUnreadForTheOtherWatchersUntilRead(store: WorkOrdersModule.Store) async throws {
        try await withRepository(store) { repository in
            let service = service(repository)
            let order = try await service.create(weldingDraft(), by: manager)
            let liNa = Caller(actor: "user:Li Na", name: "Li Na")
            let first = try await service.post(.init(body: "Started welding"), to: order.id, by: liNa)
            _ = try await service.post(.init(body: "Half done"), to: order.id, by: liNa)
            #expect(try await service.unreadCounts(for: "Zhao Peng") == [order.id: 2])
            #expect(try await service.unreadCounts(for: "Li Na").isEmpty, "one's own messages are read")
            #expect(try await service.unreadCounts(for: "not a watcher").isEmpty)
            try await service.markRead(order.id, reader: "Zhao Peng", lastReadID: first.id, by: manager)
            #expect(try await service.unreadCounts(for: "Zhao Peng") == [order.id: 1])
            await #expect(throws: StrataError.code(.validationFailed)) {
                try await service.post(.init(body: String(repeating: "x", count: WorkOrdersService.maxMessageLength + 1)), to: order.id, by: liNa)
            }
            await #expect(throws: StrataError.code(.notFound)) { try await service.post(.init(body: "hi"), to: UUID(), by: liNa) }
            #expect(try await service.messages(of: order.id, afterID: 0, limit: 10).map(\.body) == ["Started welding", "Half done"])
        }
    }
}

/// A clock tests move by hand.
final class TestClock: Sendable {
    private let current = Mutex(Date())
    var now: Date { current.withLock { $0 } }
    func advance(days: Double) { current.withLock { $0 = $0.addingTimeInterval(days * 86_400) } }
}

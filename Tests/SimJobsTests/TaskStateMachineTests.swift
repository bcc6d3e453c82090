import Foundation
import StrataCore
import Testing

@testable import SimJobs

struct TaskStateMachineTests {
    /// The transition table of the task server, written out: anything else is refused.
    static let allowed: Set<String> = [
        "PENDING→QUEUED", "PENDING→CANCELLED", "PENDING→FAILED",
        "QUEUED→ASSIGNED", "QUEUED→CANCELLED", "QUEUED→FAILED",
        "ASSIGNED→RUNNING", "ASSIGNED→QUEUED", "ASSIGNED→CANCELLED", "ASSIGNED→FAILED",
        "RUNNING→COMPLETED", "RUNNING→FAILED", "RUNNING→CANCELLED", "RUNNING→TIMEOUT", "RUNNING→QUEUED",
    ]

    @Test
    func everyTransitionOutsideTheTableIsRefused() {
        for from in TaskStatus.allCases {
            for to in TaskStatus.allCases {
                #expect(from.allows(to) == Self.allowed.contains("\(from.rawValue)→\(to.rawValue)"), "\(from) → \(to)")
            }
        }
    }

    @Test
    func terminalStatesAreTheLastFourAndLeadNowhere() {
        #expect(TaskStatus.allCases.filter(\.isTerminal) == [.completed, .failed, .cancelled, .timeout])
        for status in TaskStatus.allCases where status.isTerminal { #expect(status.allowedNext.isEmpty) }
        #expect(TaskStatus.sources(of: .running) == [.assigned])
        #expect(Set(TaskStatus.sources(of: .cancelled)) == [.pending, .queued, .assigned, .running])
    }

    @Test
    func prioritiesReadAsNumbersOrNames() {
        #expect(TaskPriority(text: "0") == .critical)
        #expect(TaskPriority(text: "low") == .low)
        #expect(TaskPriority(text: "4") == nil)
        #expect(TaskPriority(text: "urgent") == nil)
    }

    @Test
    func theCommandLineIsTheOperatorsWithOnlyTheTaskTypeFilledIn() throws {
        let template = try CommandTemplate("sh -c 'echo \"{task_type}\"' {task_type}")
        #expect(template.words[0].hasSuffix("/sh"))
        #expect(template.command(for: .bulkModulus) == [template.words[0], "-c", "echo \"bulk-modulus\"", "bulk-modulus"])
        #expect(throws: (any Error).self) { try CommandTemplate("") }
        #expect(throws: (any Error).self) { try CommandTemplate("sh 'unclosed") }
        #expect(throws: (any Error).self) { try CommandTemplate("no-such-program-anywhere {task_type}") }
    }

    @Test
    func theResultIsTheLastJSONObjectLine() {
        let id = UUID()
        let structured = TaskRunner.result(of: #"{"result_data":{"e":-1},"output_files":["a.traj"],"metrics":{"n":3}}"#, task: id, duration: 2)
        #expect(structured.resultData == .object(["e": .number(-1)]))
        #expect(structured.outputFiles == .array([.string("a.traj")]))
        #expect(structured.durationSeconds == 2)
        let plain = TaskRunner.result(of: #"{"energy":-2}"#, task: id, duration: 1)
        #expect(plain.resultData == .object(["energy": .number(-2)]))
        #expect(TaskRunner.result(of: nil, task: id, duration: 1).resultData == .object([:]))
    }
}

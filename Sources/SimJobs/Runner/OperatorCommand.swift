import Foundation
import StrataCore

#if canImport(Glibc)
import Glibc
#endif

/// A short command of the operator's (the GPU probe, the model hook) run to its end: arguments
/// as an array, never a shell; input on standard input; stopped (its whole process group) past
/// its time limit.
struct OperatorCommand: Sendable {
    /// What the command left behind.
    struct Outcome: Sendable {
        /// The exit status, or 128 + the signal that ended it.
        var exitCode: Int32
        /// Standard output, line by line (at most ``maximumLines``).
        var output: [String]
        /// The last line written to standard error, if any.
        var lastError: String?
        var timedOut: Bool

        var succeeded: Bool { exitCode == 0 && !timedOut }

        /// Why it failed, for a log line or a stored message.
        var failure: String {
            if timedOut { return "timed out" }
            return "exit status \(exitCode)" + (lastError.map { ": \($0.prefix(500))" } ?? "")
        }
    }

    static let maximumLines = 1_000

    let words: [String]
    let timeout: Duration

    /// Runs the command once. - Throws: when it cannot be started.
    func run(input: String = "", environment: [String: String]? = nil) async throws -> Outcome {
        let process = try CommandProcess.start(words, input: input, environment: environment)
        let stopped = Latch()
        let watchdog = Task {
            try? await Task.sleep(for: timeout)
            guard !Task.isCancelled else { return }
            stopped.set()
            process.signal(SIGKILL)
        }
        var output: [String] = []
        var lastError: String?
        for await line in process.lines {
            switch line.stream {
            case .output: if output.count < Self.maximumLines { output.append(line.text) }
            case .error: if !line.text.isEmpty { lastError = line.text }
            }
        }
        let code = await process.exitCode()
        watchdog.cancel()
        return Outcome(exitCode: code, output: output, lastError: lastError, timedOut: stopped.isSet)
    }
}

public import Foundation
import StrataCore

/// The operator's command line for tasks, fixed when the worker starts: ``CommandWords``, in which `{task_type}` is replaced
/// by the task's type — one of six fixed names. Nothing else from a task reaches the command
/// line; the task's parameters go to standard input as JSON.
///
/// ```
/// strata worker --gpus 0,1 --exec 'python3 -m mofsim.run {task_type}'
/// ```
public struct CommandTemplate: Sendable, Equatable {
    /// The words, the program first (resolved on `PATH` when it has no slash).
    public let words: [String]

    /// - Parameter option: The command-line option the text came from, named in errors.
    /// - Throws: `invalid_configuration` for an empty command, unbalanced quotes or a program
    ///   not found on `PATH`.
    public init(_ text: String, option: String = "--exec", path: String? = ProcessInfo.processInfo.environment["PATH"]) throws {
        words = try CommandWords(text, option: option, path: path).words
    }

    /// A command of words already resolved.
    init(words: [String]) {
        self.words = words
    }

    /// The command line for a task of `type`.
    public func command(for type: TaskType) -> [String] {
        words.map { $0.replacingOccurrences(of: "{task_type}", with: type.rawValue) }
    }
}

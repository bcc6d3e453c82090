public import Foundation
import StrataCore

/// The operator's command line for tasks, fixed when the worker starts: words separated by
/// spaces (single or double quotes keep spaces in a word), in which `{task_type}` is replaced
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
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        for character in text {
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "'" || character == "\"" {
                quote = character
                inWord = true
            } else if character == " " || character == "\t" {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        guard quote == nil else {
            throw StrataError(.invalidConfiguration, "\(option) has an unclosed quote.", details: ["variable": option])
        }
        if inWord { words.append(current) }
        guard let program = words.first, !program.isEmpty else {
            throw StrataError(.invalidConfiguration, "\(option) needs a command, e.g. 'python3 run.py {task_type}'.", details: ["variable": option])
        }
        if !program.contains("/") {
            let directories = (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
            guard let found = directories.map({ "\($0)/\(program)" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                throw StrataError(.invalidConfiguration, "\(option): the program '\(program)' is not on PATH.", details: ["variable": option])
            }
            words[0] = found
        } else if !FileManager.default.isExecutableFile(atPath: program) {
            throw StrataError(.invalidConfiguration, "\(option): '\(program)' is not an executable file.", details: ["variable": option])
        }
        self.words = words
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

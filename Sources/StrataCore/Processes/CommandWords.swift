public import Foundation

/// An operator's command line given as one text (`--exec 'python3 run.py'`): words separated by
/// spaces, single or double quotes keeping spaces in a word, the program resolved on `PATH`.
/// No shell ever reads it.
public struct CommandWords: Sendable, Equatable {
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
            throw StrataError(.invalidConfiguration, "\(option) needs a command, e.g. 'python3 run.py'.", details: ["variable": option])
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
}

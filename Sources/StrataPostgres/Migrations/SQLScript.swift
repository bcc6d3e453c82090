/// Splits a SQL file into statements, the way `psql` does, so each can be sent on its own
/// (the extended query protocol takes one statement at a time).
///
/// Semicolons inside single-quoted strings (with `''` and, in `E'…'` strings, backslash
/// escapes), double-quoted identifiers, dollar-quoted bodies (`$$ … $$`, `$fn$ … $fn$`),
/// `--` line comments and nested `/* … */` block comments do not end a statement.
/// Statements that are empty or hold only comments are dropped.
public struct SQLScript: Sendable, Equatable {
    /// One statement and the line of the file it starts on (1-based).
    public struct Statement: Sendable, Equatable {
        public var sql: String
        public var line: Int
    }

    /// The statements, in order.
    public let statements: [Statement]

    /// Splits `source` into statements.
    public init(_ source: String) {
        var statements: [Statement] = []
        let chars = Array(source.unicodeScalars)
        var current = String.UnicodeScalarView()
        var index = 0
        var line = 1
        var startLine = 1
        var hasCode = false

        func flush() {
            let text = String(current).trimming(" \t\r\n")
            if hasCode && !text.isEmpty { statements.append(Statement(sql: text, line: startLine)) }
            current = String.UnicodeScalarView()
            hasCode = false
        }
        func append(_ scalar: Unicode.Scalar) {
            if scalar == "\n" { line += 1 }
            current.append(scalar)
        }
        func peek(_ offset: Int) -> Unicode.Scalar? {
            index + offset < chars.count ? chars[index + offset] : nil
        }
        func markCode() {
            if !hasCode {
                hasCode = true
                startLine = line
            }
        }

        while index < chars.count {
            let c = chars[index]
            switch c {
            case "-" where peek(1) == "-":
                while index < chars.count && chars[index] != "\n" {
                    append(chars[index])
                    index += 1
                }
                continue
            case "/" where peek(1) == "*":
                var depth = 0
                repeat {
                    if chars[index] == "/" && peek(1) == "*" {
                        depth += 1
                        append(chars[index])
                        append(chars[index + 1])
                        index += 2
                    } else if chars[index] == "*" && peek(1) == "/" {
                        depth -= 1
                        append(chars[index])
                        append(chars[index + 1])
                        index += 2
                    } else {
                        append(chars[index])
                        index += 1
                    }
                } while depth > 0 && index < chars.count
                continue
            case "'":
                markCode()
                let previous = current.last
                let escapes = previous == "E" || previous == "e"
                append(c)
                index += 1
                while index < chars.count {
                    let s = chars[index]
                    if escapes && s == "\\" && index + 1 < chars.count {
                        append(s)
                        append(chars[index + 1])
                        index += 2
                        continue
                    }
                    append(s)
                    index += 1
                    if s == "'" {
                        if peek(0) == "'" {
                            append("'")
                            index += 1
                            continue
                        }
                        break
                    }
                }
                continue
            case "\"":
                markCode()
                append(c)
                index += 1
                while index < chars.count {
                    let s = chars[index]
                    append(s)
                    index += 1
                    if s == "\"" {
                        if peek(0) == "\"" {
                            append("\"")
                            index += 1
                            continue
                        }
                        break
                    }
                }
                continue
            case "$":
                markCode()
                if let tag = Self.dollarTag(chars, at: index) {
                    for s in tag { append(s) }
                    index += tag.count
                    while index < chars.count {
                        if chars[index] == "$", Self.matches(chars, at: index, tag) {
                            for s in tag { append(s) }
                            index += tag.count
                            break
                        }
                        append(chars[index])
                        index += 1
                    }
                    continue
                }
                append(c)
                index += 1
                continue
            case ";":
                index += 1
                flush()
                continue
            default:
                if !c.properties.isWhitespace { markCode() }
                append(c)
                index += 1
            }
        }
        flush()
        self.statements = statements
    }

    /// `$tag$` starting at `index`, when it is a dollar-quote opener (not a `$1` parameter).
    private static func dollarTag(_ chars: [Unicode.Scalar], at index: Int) -> [Unicode.Scalar]? {
        var end = index + 1
        while end < chars.count, chars[end] != "$" {
            let s = chars[end]
            let isTagChar = s == "_" || s.properties.isAlphabetic || (end > index + 1 && ("0"..."9").contains(s))
            guard isTagChar else { return nil }
            end += 1
        }
        guard end < chars.count else { return nil }
        return Array(chars[index...end])
    }

    private static func matches(_ chars: [Unicode.Scalar], at index: Int, _ tag: [Unicode.Scalar]) -> Bool {
        guard index + tag.count <= chars.count else { return false }
        for offset in 0..<tag.count where chars[index + offset] != tag[offset] { return false }
        return true
    }
}

extension String {
    func trimming(_ set: String) -> String {
        let scalars = Set(set.unicodeScalars)
        var view = Substring(self).unicodeScalars[...]
        while let first = view.first, scalars.contains(first) { view.removeFirst() }
        while let last = view.last, scalars.contains(last) { view.removeLast() }
        return String(view)
    }
}

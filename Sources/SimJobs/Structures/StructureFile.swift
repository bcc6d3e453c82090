import Foundation
public import StrataCore

/// The file formats structures are uploaded in.
public enum StructureFormat: String, Sendable, Codable, CaseIterable {
    case cif, xyz

    /// The media type the file is served with.
    public var mediaType: String {
        switch self {
        case .cif: "chemical/x-cif"
        case .xyz: "chemical/x-xyz"
        }
    }
}

/// What a structure file says about itself, read and checked at upload.
///
/// - XYZ: the atom count on line 1, a comment line, then one `Element x y z` line per atom
///   (only the first frame of a multi-frame file is read). The formula is computed from the
///   elements, in Hill order.
/// - CIF: a `data_` block with an `_atom_site_` loop; the atom count is the number of sites
///   listed, the formula is `_chemical_formula_sum` (else computed from the sites' type
///   symbols), the space group `_space_group_name_H-M_alt` or `_symmetry_space_group_name_H-M`.
///
/// A file that does not parse is refused with the line at fault, before anything is stored.
struct StructureFile: Sendable, Equatable {
    var format: StructureFormat
    var atomCount: Int
    var formula: String?
    var spaceGroup: String?

    static func parse(_ data: Data, format: StructureFormat) throws -> StructureFile {
        guard let text = String(data: data, encoding: .utf8) else {
            throw invalid("the file is not UTF-8 text")
        }
        guard !text.contains("\u{0}") else { throw invalid("the file holds NUL bytes") }
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        switch format {
        case .xyz: return try parseXYZ(lines)
        case .cif: return try parseCIF(lines)
        }
    }

    // MARK: XYZ

    private static func parseXYZ(_ lines: [String]) throws -> StructureFile {
        guard let first = lines.first, let count = Int(first), count > 0 else {
            throw invalid("line 1 must be the number of atoms (a whole number above 0)")
        }
        guard count <= 10_000_000 else { throw invalid("line 1 claims more than 10,000,000 atoms") }
        guard lines.count >= count + 2 else {
            throw invalid("line 1 says \(count) atoms but the file has \(max(lines.count - 2, 0)) atom lines")
        }
        var elements: [String: Int] = [:]
        for index in 2..<(count + 2) {
            let fields = lines[index].split(whereSeparator: \.isWhitespace)
            guard fields.count >= 4, let element = elementSymbol(fields[0]), fields[1...3].allSatisfy({ Double($0)?.isFinite == true })
            else {
                throw invalid("line \(index + 1) must be an element symbol and three coordinates")
            }
            elements[element, default: 0] += 1
        }
        return StructureFile(format: .xyz, atomCount: count, formula: hillFormula(elements), spaceGroup: nil)
    }

    // MARK: CIF

    private static func parseCIF(_ lines: [String]) throws -> StructureFile {
        guard lines.contains(where: { $0.lowercased().hasPrefix("data_") }) else {
            throw invalid("a CIF file must start a data block (data_…)")
        }
        var formula: String?
        var spaceGroup: String?
        var sites: Int?
        var siteElements: [String: Int] = [:]
        var index = 0
        while index < lines.count {
            let line = lines[index]
            let lower = line.lowercased()
            if lower.hasPrefix("_chemical_formula_sum") {
                formula = value(after: "_chemical_formula_sum", in: line)
            } else if lower.hasPrefix("_space_group_name_h-m_alt") || lower.hasPrefix("_symmetry_space_group_name_h-m") {
                let tag = lower.hasPrefix("_space_group") ? "_space_group_name_H-M_alt" : "_symmetry_space_group_name_H-M"
                spaceGroup = spaceGroup ?? value(after: tag, in: line)
            } else if lower == "loop_" {
                let (headers, values, next) = try readLoop(lines, from: index + 1)
                index = next
                if let labelColumn = headers.firstIndex(where: { $0.hasPrefix("_atom_site_label") || $0.hasPrefix("_atom_site_type_symbol") }),
                    headers.allSatisfy({ $0.hasPrefix("_atom_site_") && !$0.hasPrefix("_atom_site_aniso") })
                {
                    guard values.count % headers.count == 0 else {
                        throw invalid("the _atom_site_ loop has \(values.count) values for \(headers.count) columns")
                    }
                    let rows = values.count / headers.count
                    sites = (sites ?? 0) + rows
                    let symbolColumn = headers.firstIndex(of: "_atom_site_type_symbol") ?? labelColumn
                    for row in 0..<rows {
                        if let element = elementSymbol(Substring(values[row * headers.count + symbolColumn])) {
                            siteElements[element, default: 0] += 1
                        }
                    }
                }
                continue
            }
            index += 1
        }
        guard let sites, sites > 0 else { throw invalid("a CIF file must list its atoms in an _atom_site_ loop") }
        let normalized = formula.map { $0.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        return StructureFile(
            format: .cif,
            atomCount: sites,
            formula: (normalized?.isEmpty == false ? normalized : nil) ?? hillFormula(siteElements),
            spaceGroup: spaceGroup.flatMap { $0.isEmpty || $0.textLength > 50 ? nil : $0 }
        )
    }

    /// A loop's column names and values; values may span lines, be quoted, or be `;` text fields.
    private static func readLoop(_ lines: [String], from start: Int) throws -> ([String], [String], Int) {
        var index = start
        var headers: [String] = []
        while index < lines.count, lines[index].hasPrefix("_") {
            headers.append(String(lines[index].split(whereSeparator: \.isWhitespace)[0]).lowercased())
            index += 1
        }
        guard !headers.isEmpty else { throw invalid("line \(start + 1): loop_ without column names") }
        var values: [String] = []
        while index < lines.count {
            let line = lines[index]
            let lower = line.lowercased()
            if line.hasPrefix("_") || lower == "loop_" || lower.hasPrefix("data_") { break }
            if line.hasPrefix(";") {
                // A text field: up to the next line that starts with ';'.
                var end = index + 1
                while end < lines.count, !lines[end].hasPrefix(";") { end += 1 }
                guard end < lines.count else { throw invalid("line \(index + 1): a ';' text field is never closed") }
                values.append(([String(line.dropFirst())] + lines[(index + 1)..<end]).joined(separator: "\n"))
                index = end + 1
                continue
            }
            values += try tokens(line, lineNumber: index + 1)
            index += 1
        }
        return (headers, values, index)
    }

    /// Whitespace-separated values; `'…'` and `"…"` quote values with spaces; `#` starts a comment.
    private static func tokens(_ line: String, lineNumber: Int) throws -> [String] {
        var result: [String] = []
        var rest = Substring(line)
        while true {
            rest = rest.drop(while: \.isWhitespace)
            guard let first = rest.first, first != "#" else { return result }
            if first == "'" || first == "\"" {
                // A quote closes only when followed by whitespace or the end of the line.
                var index = rest.index(after: rest.startIndex)
                var closed: String.Index?
                while index < rest.endIndex {
                    let after = rest.index(after: index)
                    if rest[index] == first, after == rest.endIndex || rest[after].isWhitespace {
                        closed = index
                        break
                    }
                    index = after
                }
                guard let closed else { throw invalid("line \(lineNumber): a quoted value is never closed") }
                result.append(String(rest[rest.index(after: rest.startIndex)..<closed]))
                rest = rest[rest.index(after: closed)...]
            } else {
                let end = rest.firstIndex(where: \.isWhitespace) ?? rest.endIndex
                result.append(String(rest[..<end]))
                rest = rest[end...]
            }
        }
    }

    /// The value of a `_tag value` line, without quotes.
    private static func value(after tag: String, in line: String) -> String? {
        let rest = line.dropFirst(tag.count).trimmingCharacters(in: .whitespaces)
        guard !rest.isEmpty else { return nil }
        return (try? tokens(rest, lineNumber: 0))?.joined(separator: " ")
    }

    /// `Fe`, `O2-`→`O`, `C12`→`C` (site labels carry numbers); `nil` when no symbol leads.
    private static func elementSymbol(_ text: Substring) -> String? {
        guard let first = text.first, first.isASCII, first.isUppercase else { return nil }
        var symbol = String(first)
        if let second = text.dropFirst().first, second.isASCII, second.isLowercase { symbol.append(second) }
        return symbol
    }

    /// Carbon first, then hydrogen, then the rest alphabetically (alphabetically throughout
    /// when there is no carbon); counts of 1 are omitted: `C2 H6 O`.
    static func hillFormula(_ counts: [String: Int]) -> String? {
        guard !counts.isEmpty else { return nil }
        let order: [String]
        if counts["C"] != nil {
            order = ["C"] + (counts["H"] != nil ? ["H"] : []) + counts.keys.filter { $0 != "C" && $0 != "H" }.sorted()
        } else {
            order = counts.keys.sorted()
        }
        return order.map { counts[$0]! == 1 ? $0 : "\($0)\(counts[$0]!)" }.joined(separator: " ")
    }

    private static func invalid(_ reason: String) -> StrataError {
        StrataError(.invalidStructureFile, "The structure file cannot be read: \(reason).", details: ["field": "file"])
    }
}

extension StrataError.Code {
    /// An uploaded structure file does not parse as its format (422).
    public static let invalidStructureFile = Self("simjobs.invalid_structure_file", kind: .invalidInput)
}

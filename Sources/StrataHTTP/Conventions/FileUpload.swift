public import Foundation
public import Hummingbird
import NIOCore
import StrataCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file sent to an upload route, in either of the two ways clients send files:
///
/// - the raw body (`curl --data-binary @MOF-5.cif`), its media type the request's
///   `Content-Type`, its name in the route's query;
/// - `multipart/form-data` (`curl -F file=@MOF-5.cif`, an HTML form, Python's `requests`
///   `files=`), the file in the part named `file` with its own `filename` and `Content-Type`;
///   the other text parts are kept in ``fields``.
public struct FileUpload: Sendable {
    /// The file's bytes.
    public var data: Data
    /// The name the client gave the file (multipart's `filename`), if any.
    public var fileName: String?
    /// The file's media type, if the client said.
    public var contentType: String?
    /// The multipart body's text fields (empty for a raw body).
    public var fields: [String: String]

    public init(data: Data, fileName: String? = nil, contentType: String? = nil, fields: [String: String] = [:]) {
        self.data = data
        self.fileName = fileName
        self.contentType = contentType
        self.fields = fields
    }

    /// The most text fields (and their bytes each) a multipart upload may carry besides its file.
    static let fieldLimit = 32
    static let fieldSizeLimit = 64 * 1024
}

extension Request {
    /// Reads the uploaded file (see ``FileUpload``), up to the route's body limit.
    /// - Throws: 413 `payload_too_large` past the limit; 400 `malformed_body` for a multipart
    ///   body that does not parse or has no boundary; 422 `validation_failed` (field `file`) for
    ///   a multipart body without exactly one `file` part.
    public func fileUpload(context: StrataRequestContext) async throws -> FileUpload {
        let contentType = headers[.contentType]
        let buffer = try await body.collect(upTo: context.bodyLimit)
        guard let contentType, let multipart = MultipartForm.mediaType(contentType), multipart.type == "multipart/form-data" else {
            return FileUpload(data: Data(buffer.readableBytesView), contentType: contentType)
        }
        guard let boundary = multipart.boundary else {
            throw StrataError(.malformedBody, "A multipart/form-data body needs a boundary parameter in its Content-Type.")
        }
        let parts = try MultipartForm.parse(Array(buffer.readableBytesView), boundary: boundary)
        let files = parts.filter { $0.name == "file" }
        guard files.count == 1, let file = files.first else {
            throw StrataError.validation([.init(field: "file", reason: "send exactly one part named file (multipart/form-data)")])
        }
        var fields: [String: String] = [:]
        for part in parts where part.name != "file" && part.fileName == nil {
            guard fields.count < FileUpload.fieldLimit, part.data.count <= FileUpload.fieldSizeLimit,
                let text = String(data: part.data, encoding: .utf8)
            else {
                throw StrataError.validation([.init(field: part.name, reason: "must be UTF-8 text of at most 64 KiB (at most 32 fields)")])
            }
            fields[part.name] = text
        }
        return FileUpload(data: file.data, fileName: file.fileName, contentType: file.contentType, fields: fields)
    }
}

/// A `multipart/form-data` body (RFC 7578) split into its parts.
enum MultipartForm {
    struct Part: Sendable {
        var name: String
        var fileName: String?
        var contentType: String?
        var data: Data
    }

    /// The media type (lowercased) and its `boundary` parameter.
    static func mediaType(_ header: String) -> (type: String, boundary: String?)? {
        let pieces = splitParameters(header).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let type = pieces.first?.lowercased(), !type.isEmpty else { return nil }
        let boundary = pieces.dropFirst().lazy.compactMap { parameter -> String? in
            guard let equals = parameter.firstIndex(of: "="), parameter[..<equals].lowercased() == "boundary" else { return nil }
            let value = unquoted(String(parameter[parameter.index(after: equals)...]))
            return (1...70).contains(value.utf8.count) ? value : nil
        }.first
        return (type, boundary)
    }

    /// Splits a body into parts. - Throws: `malformed_body` naming what is wrong.
    static func parse(_ body: some Collection<UInt8>, boundary: String) throws -> [Part] {
        let bytes = Array(body)  // no copy when it is an array already
        let delimiter = Array("--\(boundary)".utf8)
        let separator = Array("\r\n--\(boundary)".utf8)
        func malformed(_ reason: String) -> StrataError { StrataError(.malformedBody, "The multipart body is malformed: \(reason).") }
        // The first delimiter may open the body or follow a preamble line.
        guard var cursor = bytes.starts(with: delimiter) ? delimiter.count : find(separator, in: bytes, from: 0).map({ $0 + separator.count })
        else { throw malformed("no boundary delimiter") }
        var parts: [Part] = []
        while true {
            if bytes[cursor...].starts(with: [0x2D, 0x2D]) { return parts }  // "--": the closing delimiter
            // Transport padding, then CRLF.
            while cursor < bytes.count, bytes[cursor] == 0x20 || bytes[cursor] == 0x09 { cursor += 1 }
            guard bytes[cursor...].starts(with: [0x0D, 0x0A]) else { throw malformed("a delimiter not followed by a line break") }
            cursor += 2
            guard
                let headerEnd = find([0x0D, 0x0A, 0x0D, 0x0A], in: bytes, from: cursor)
                    ?? (bytes[cursor...].starts(with: [0x0D, 0x0A]) ? cursor - 2 : nil)
            else { throw malformed("a part without a blank line after its headers") }
            let headerText = headerEnd > cursor ? String(decoding: bytes[cursor..<headerEnd], as: UTF8.self) : ""
            let contentStart = headerEnd + 4
            guard contentStart <= bytes.count, let contentEnd = nextDelimiter(separator, in: bytes, from: contentStart) else {
                throw malformed("a part that is never closed by the boundary")
            }
            var headers: [String: String] = [:]
            for line in headerText.split(separator: "\r\n") {
                guard let colon = line.firstIndex(of: ":") else { throw malformed("a part header line without a colon") }
                headers[line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                    in: .whitespaces
                )
            }
            guard let disposition = headers["content-disposition"], let parameters = dispositionParameters(disposition),
                let name = parameters["name"], !name.isEmpty
            else { throw malformed("a part without Content-Disposition: form-data; name=…") }
            parts.append(
                Part(
                    name: name,
                    fileName: parameters["filename*"].flatMap(extendedValue) ?? parameters["filename"],
                    contentType: headers["content-type"],
                    data: Data(bytes[contentStart..<contentEnd])
                )
            )
            guard parts.count <= FileUpload.fieldLimit + 1 else { throw malformed("more than \(FileUpload.fieldLimit + 1) parts") }
            cursor = contentEnd + separator.count
            guard cursor < bytes.count else { throw malformed("no closing boundary") }
        }
    }

    /// The next delimiter: `separator` followed by `--`, spaces or a line break (the same bytes
    /// followed by anything else are content).
    static func nextDelimiter(_ separator: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        var from = start
        while let found = find(separator, in: bytes, from: from) {
            let next = found + separator.count
            if next >= bytes.count || [0x2D, 0x0D, 0x20, 0x09].contains(bytes[next]) { return found }
            from = found + 1
        }
        return nil
    }

    /// `form-data; name="file"; filename="a.cif"` → its parameters (names lowercased); nil when
    /// it is not form-data.
    static func dispositionParameters(_ header: String) -> [String: String]? {
        let pieces = splitParameters(header)
        guard pieces.first?.trimmingCharacters(in: .whitespaces).lowercased() == "form-data" else { return nil }
        var parameters: [String: String] = [:]
        for piece in pieces.dropFirst() {
            guard let equals = piece.firstIndex(of: "=") else { continue }
            let key = piece[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            parameters[key] = unquoted(piece[piece.index(after: equals)...].trimmingCharacters(in: .whitespaces))
        }
        return parameters
    }

    /// Splits a header value at the semicolons outside quoted strings.
    static func splitParameters(_ header: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for character in header {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" && quoted {
                current.append(character)
                escaped = true
            } else if character == "\"" {
                quoted.toggle()
                current.append(character)
            } else if character == ";" && !quoted {
                pieces.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        pieces.append(current)
        return pieces
    }

    /// RFC 5987 `UTF-8''na%C3%AFve.cif` → `naïve.cif`.
    static func extendedValue(_ value: String) -> String? {
        let pieces = value.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
        guard pieces.count == 3, pieces[0].lowercased() == "utf-8" else { return nil }
        return String(pieces[2]).removingPercentEncoding
    }

    static func unquoted(_ value: String) -> String {
        guard value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") else { return value }
        var result = ""
        var escaped = false
        for character in value.dropFirst().dropLast() {
            if escaped || character != "\\" {
                result.append(character)
                escaped = false
            } else {
                escaped = true
            }
        }
        return result
    }

    /// The first index of `needle` in `haystack` at or after `start` (memchr for its first byte,
    /// then memcmp).
    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, start >= 0, start + needle.count <= haystack.count else { return nil }
        return haystack.withUnsafeBytes { hay in
            needle.withUnsafeBytes { pattern in
                guard let base = hay.baseAddress, let patternBase = pattern.baseAddress else { return nil }
                var index = start
                let last = hay.count - pattern.count
                while index <= last {
                    guard let hit = memchr(base + index, Int32(first), last - index + 1) else { return nil }
                    let position = base.distance(to: UnsafeRawPointer(hit))
                    if memcmp(base + position, patternBase, pattern.count) == 0 { return position }
                    index = position + 1
                }
                return nil
            }
        }
    }
}

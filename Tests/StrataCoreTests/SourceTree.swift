import Foundation
import Testing

/// The project's Swift sources read as text, for the tests that check a convention across them.
enum SourceTree {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources").standardized

    /// Every Swift file below `folder` of Sources (all of them for ""): its path from Sources
    /// and its text.
    static func files(under folder: String = "") throws -> [(path: String, text: String)] {
        let files = try #require(FileManager.default.enumerator(at: root.appendingPathComponent(folder), includingPropertiesForKeys: nil))
        var result: [(String, String)] = []
        for case let file as URL in files where file.pathExtension == "swift" {
            result.append((file.path.replacingOccurrences(of: root.path + "/", with: ""), try String(contentsOf: file, encoding: .utf8)))
        }
        return result
    }
}

import Foundation
import Testing

/// The modules' layering, read from the sources: HTTP stays in the HTTP layer.
@Suite struct LayeringTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources").standardized

    /// Swift files under `folder` (relative to Sources) and the modules each imports.
    static func imports(under folder: String) throws -> [(file: String, modules: Set<String>)] {
        let root = sources.appendingPathComponent(folder)
        let files = try #require(FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil))
        var result: [(String, Set<String>)] = []
        for case let file as URL in files where file.pathExtension == "swift" {
            let modules = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").compactMap { line -> String? in
                let words = line.split(separator: " ")
                guard let index = words.firstIndex(of: "import"), index <= 2, index + 1 < words.count else { return nil }
                return String(words[index + 1])
            }
            result.append((file.path.replacingOccurrences(of: sources.path + "/", with: ""), Set(modules)))
        }
        return result
    }

    static let http: Set<String> = ["StrataHTTP", "Hummingbird", "HummingbirdCore", "HTTPTypes", "StrataServer"]

    @Test(arguments: ["SimJobs", "WorkOrders"])
    func anAppsServicesAndRepositoriesImportNoHTTPModule(app: String) throws {
        let files = try Self.imports(under: app)
        #expect(files.count > 10, "the app's sources were found")
        let offenders = files.filter { file in
            !file.file.contains("/Routes/") && !file.file.hasSuffix("Module.swift") && !file.modules.isDisjoint(with: Self.http)
        }
        #expect(offenders.isEmpty, "only routes and the module file speak HTTP: \(offenders.map(\.file))")
    }

    @Test(arguments: ["StrataCore", "StrataPostgres", "StrataRedis", "StrataObjects", "StrataEvents", "StrataSecurity"])
    func platformModulesBelowTheHTTPLayerImportNoHTTPModule(module: String) throws {
        let files = try Self.imports(under: module)
        #expect(!files.isEmpty)
        let offenders = files.filter { !$0.modules.isDisjoint(with: Self.http) }
        #expect(offenders.isEmpty, "\(offenders.map(\.file))")
    }
}

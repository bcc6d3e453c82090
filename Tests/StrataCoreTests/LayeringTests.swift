import Foundation
import Testing

/// The modules' layering, read from the sources: HTTP stays in the HTTP layer.
@Suite struct LayeringTests {
    /// Swift files under `folder` (relative to Sources) and the modules each imports.
    static func imports(under folder: String) throws -> [(file: String, modules: Set<String>)] {
        try SourceTree.files(under: folder).map { file in
            let modules = file.text.split(separator: "\n").compactMap { line -> String? in
                let words = line.split(separator: " ")
                guard let index = words.firstIndex(of: "import"), index <= 2, index + 1 < words.count else { return nil }
                return String(words[index + 1])
            }
            return (file.path, Set(modules))
        }
    }

    static let http: Set<String> = ["StrataHTTP", "Hummingbird", "HummingbirdCore", "HTTPTypes", "StrataServer"]

    @Test(arguments: ["SimJobs", "WorkOrders", "Workflows", "Factory"])
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

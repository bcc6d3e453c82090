import Foundation
import StrataCore
import StrataObjects
import Testing

/// What every ``ObjectStore`` must do, run against each implementation by the suites below.
enum ObjectStoreConformance {
    static func run(_ store: some ObjectStore) async throws {
        try await roundTripsBytesAndReportsSize(store)
        try await missingObjectsAreNilAndDeletingThemIsFine(store)
        try await putReplacesAndDeleteRemoves(store)
        try await listsByPrefixInKeyOrderPageByPage(store)
        try await keepsLargeAndBinaryObjectsIntact(store)
        try await concurrentWritersLeaveOneWholeObject(store)
    }

    static func roundTripsBytesAndReportsSize(_ store: some ObjectStore) async throws {
        let key = try ObjectKey("conformance/round-trip/hello.txt")
        let data = Data("hello, objects\n".utf8)
        let before = Date().addingTimeInterval(-5)
        let stored = try await store.put(data, at: key, contentType: "text/plain")
        #expect(stored.key == key && stored.size == Int64(data.count))
        #expect(try await store.get(key) == data)
        let info = try #require(try await store.info(key))
        #expect(info.size == Int64(data.count))
        #expect(info.lastModified > before && info.lastModified < Date().addingTimeInterval(5))
        let empty = try ObjectKey("conformance/round-trip/empty")
        try await store.put(Data(), at: empty)
        #expect(try await store.get(empty) == Data())
        #expect(try await store.info(empty)?.size == 0)
    }

    static func missingObjectsAreNilAndDeletingThemIsFine(_ store: some ObjectStore) async throws {
        let key = try ObjectKey("conformance/missing/nothing-here.bin")
        #expect(try await store.get(key) == nil)
        #expect(try await store.info(key) == nil)
        try await store.delete(key)
        // A prefix of other keys is not itself an object.
        try await store.put(Data("x".utf8), at: try ObjectKey("conformance/missing/folder/inside"))
        #expect(try await store.get(try ObjectKey("conformance/missing/folder")) == nil)
        #expect(try await store.info(try ObjectKey("conformance/missing/folder")) == nil)
    }

    static func putReplacesAndDeleteRemoves(_ store: some ObjectStore) async throws {
        let key = try ObjectKey("conformance/replace/value")
        try await store.put(Data("first".utf8), at: key)
        try await store.put(Data("second, longer".utf8), at: key)
        #expect(try await store.get(key) == Data("second, longer".utf8))
        #expect(try await store.info(key)?.size == 14)
        try await store.delete(key)
        #expect(try await store.get(key) == nil)
        #expect(try await store.list(prefix: "conformance/replace/", after: nil, limit: 10).isEmpty)
    }

    static func listsByPrefixInKeyOrderPageByPage(_ store: some ObjectStore) async throws {
        let names = ["b/2", "a", "b/10", "b/1", "c.txt", "B", "b-x", "b/sub/deep"]
        for name in names.shuffled() {
            try await store.put(Data(name.utf8), at: try ObjectKey("conformance/list/\(name)"))
        }
        try await store.put(Data("other".utf8), at: try ObjectKey("conformance/listing-elsewhere"))
        let all = try await store.list(prefix: "conformance/list/", after: nil, limit: 100).map(\.key.rawValue)
        #expect(all == names.map { "conformance/list/\($0)" }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        let sizes = try await store.list(prefix: "conformance/list/", after: nil, limit: 100).map(\.size)
        #expect(sizes == all.map { Int64($0.dropFirst("conformance/list/".count).utf8.count) })
        // Keyset pages of three cover everything once, in order.
        var paged: [String] = []
        var after: ObjectKey?
        while true {
            let page = try await store.list(prefix: "conformance/list/", after: after, limit: 3)
            paged += page.map(\.key.rawValue)
            guard page.count == 3 else { break }
            after = page.last?.key
        }
        #expect(paged == all)
        #expect(try await store.listAll(prefix: "conformance/list/", pageSize: 2).map(\.key.rawValue) == all)
        // A prefix that ends inside a segment.
        #expect(
            try await store.list(prefix: "conformance/list/b/1", after: nil, limit: 10).map(\.key.rawValue) == [
                "conformance/list/b/1", "conformance/list/b/10",
            ]
        )
        #expect(try await store.list(prefix: "conformance/nothing/", after: nil, limit: 10).isEmpty)
    }

    static func keepsLargeAndBinaryObjectsIntact(_ store: some ObjectStore) async throws {
        let key = try ObjectKey("conformance/large/blob.bin")
        let data = Data(SecureRandom.bytes(3 << 20))
        try await store.put(data, at: key, contentType: "application/octet-stream")
        #expect(try await store.get(key) == data)
        #expect(try await store.info(key)?.size == Int64(data.count))
    }

    static func concurrentWritersLeaveOneWholeObject(_ store: some ObjectStore) async throws {
        let key = try ObjectKey("conformance/race/value")
        let versions = (0..<8).map { index in Data(repeating: UInt8(index), count: 256 << 10) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for version in versions {
                group.addTask { try await store.put(version, at: key) }
                group.addTask { _ = try await store.get(key) }
            }
            try await group.waitForAll()
        }
        let final = try #require(try await store.get(key))
        #expect(versions.contains(final), "the object is one writer's bytes, whole")
    }
}

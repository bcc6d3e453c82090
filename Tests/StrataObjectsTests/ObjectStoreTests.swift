import Foundation
import StrataCore
import StrataObjects
import StrataTestSupport
import Testing

@Suite struct FileSystemObjectStoreTests {
    @Test func passesTheConformanceSuite() async throws {
        try await withTestFileStore { store in try await ObjectStoreConformance.run(store) }
    }

    @Test func writesPrivateFilesAndLeavesNoTemporaryFiles() async throws {
        try await withTestFileStore { store in
            let key = try ObjectKey("private/a/b.txt")
            try await store.put(Data("secret".utf8), at: key)
            let attributes = try FileManager.default.attributesOfItem(atPath: store.root + "/private/a/b.txt")
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            let folder = try FileManager.default.attributesOfItem(atPath: store.root + "/private/a")
            #expect((folder[.posixPermissions] as? Int) == 0o700)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: store.root + "/private/a")
            #expect(leftovers == ["b.txt"])
        }
    }

    @Test func aKeyThatNeedsAFileAsAFolderIsAConflictNotACrash() async throws {
        try await withTestFileStore { store in
            try await store.put(Data("x".utf8), at: try ObjectKey("clash/file"))
            await #expect(throws: StrataError(.conflict, "")) {
                try await store.put(Data("y".utf8), at: try ObjectKey("clash/file/inside"))
            }
            #expect(try await store.get(try ObjectKey("clash/file")) == Data("x".utf8))
        }
    }
}

@Suite struct S3ObjectStoreTests {
    @Test func passesTheConformanceSuite() async throws {
        try await withTestS3Store { store in try await ObjectStoreConformance.run(store) }
    }

    @Test func aWrongSecretIsRefusedWithAClearErrorThatHidesIt() async throws {
        try await withTestS3Store { store in
            var configuration = store.configuration
            configuration.secretAccessKey = "not-the-secret-key"
            let wrong = S3ObjectStore(configuration: configuration)
            do {
                try await wrong.put(Data("x".utf8), at: try ObjectKey("refused"))
                Issue.record("a request signed with the wrong secret was accepted")
            } catch let error as StrataError {
                #expect(error.code == .storageUnavailable)
                #expect(error.details["s3_code"] == "SignatureDoesNotMatch")
                #expect(!error.message.contains("not-the-secret-key") && !error.message.contains(store.configuration.secretAccessKey))
            }
            #expect(try await store.get(try ObjectKey("refused")) == nil)
        }
    }

    @Test func anUnreachableEndpointIsStorageUnavailable() async throws {
        let store = S3ObjectStore(
            configuration: .init(
                endpoint: URL(string: "http://127.0.0.1:1")!,
                bucket: "nowhere",
                accessKeyID: "id",
                secretAccessKey: "secret",
                timeout: .seconds(2)
            )
        )
        await #expect(throws: StrataError(.storageUnavailable, "")) { _ = try await store.get(try ObjectKey("k")) }
    }
}

@Suite struct ObjectKeyTests {
    @Test func acceptsPlainPathsAndRefusesEverythingThatCouldEscapeOrNeedEscaping() throws {
        for good in ["a", "simjobs/structures/0f.cif", "a-b_c.d/e", String(repeating: "x", count: 1024)] {
            #expect(ObjectKey.problem(with: good) == nil, "\(good)")
        }
        for bad in [
            "", "/a", "a/", "a//b", "../a", "a/../b", "a/./b", ".hidden", "a/.tmp-1", "a b", "a\\b", "a?b", "é", "a\u{0}b",
            String(repeating: "x", count: 1025),
        ] {
            #expect(ObjectKey.problem(with: bad) != nil, "\(bad)")
            #expect(throws: StrataError(.invalidValue, "")) { try ObjectKey(bad) }
        }
    }
}

@Suite struct AWSSignatureV4Tests {
    let signer = AWSSignatureV4(
        accessKeyID: "AKIAIOSFODNN7EXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region: "us-east-1",
        service: "s3"
    )
    let date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z

    func signature(_ headers: [(String, String)]) -> String? {
        headers.first { $0.0 == "authorization" }?.1.components(separatedBy: "Signature=").last
    }

    @Test func matchesAWSsPublishedGetObjectExample() {
        let headers = signer.headers(
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            payloadHash: AWSSignatureV4.emptyPayloadHash,
            extraSignedHeaders: ["range": "bytes=0-9"],
            date: date
        )
        #expect(signature(headers) == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(headers.contains { $0 == ("x-amz-date", "20130524T000000Z") })
    }

    // The expected signatures below were computed by botocore's S3SigV4Auth for the same requests.
    @Test func matchesBotocoreForPathStyleQueriesAndPayloads() {
        let get = signer.headers(
            method: "GET",
            host: "127.0.0.1:9000",
            path: "/bucket/dir/file.cif",
            payloadHash: AWSSignatureV4.emptyPayloadHash,
            date: date
        )
        #expect(signature(get) == "01996b4c2596880992e8b1975c8c2c242d484bed77941da2d64bf7042b2ae8dc")
        let list = signer.headers(
            method: "GET",
            host: "127.0.0.1:9000",
            path: "/bucket",
            query: [("prefix", "a b/"), ("list-type", "2"), ("max-keys", "10")],
            payloadHash: AWSSignatureV4.emptyPayloadHash,
            date: date
        )
        #expect(signature(list) == "de378df9c66fb6076bab81ac5d63d2fd119bc01f8f34af2f86df1e2dbc6867ef")
        let body = Data("Welcome to Amazon S3.".utf8)
        #expect(AWSSignatureV4.payloadHash(body) == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let put = signer.headers(
            method: "PUT",
            host: "127.0.0.1:9000",
            path: "/bucket/k.txt",
            payloadHash: AWSSignatureV4.payloadHash(body),
            date: date
        )
        #expect(signature(put) == "451025c5a717c71d4450c4e5fceb909b634f10950a52543e9dd70012b16d8338")
    }

    @Test func encodesQueriesAndPathsTheWaySigV4Requires() {
        #expect(AWSSignatureV4.canonicalQuery([("prefix", "a b/"), ("list-type", "2")]) == "list-type=2&prefix=a%20b%2F")
        #expect(AWSSignatureV4.encode("/a b/c~d", keepSlash: true) == "/a%20b/c~d")
        #expect(AWSSignatureV4.encode("é", keepSlash: false) == "%C3%A9")
    }
}

@Suite struct ObjectStoreConfigurationTests {
    @Test func defaultsToFilesUnderTheHomeAndReadsS3Variables() throws {
        guard case .fileSystem(let root) = try ObjectStoreConfiguration(environment: .init([:]), home: "/srv/strata") else {
            Issue.record("no S3_BUCKET should mean the file-system store")
            return
        }
        #expect(root == "/srv/strata/objects")
        let variables = [
            "S3_BUCKET": "blobs", "S3_ENDPOINT": "http://127.0.0.1:9000", "S3_ACCESS_KEY_ID": "id", "S3_SECRET_ACCESS_KEY": "s3cr3t-value",
        ]
        guard case .s3(let s3) = try ObjectStoreConfiguration(environment: .init(variables), home: "/x") else {
            Issue.record("S3_BUCKET should select the S3 store")
            return
        }
        #expect(s3.bucket == "blobs" && s3.region == "us-east-1" && s3.pathStyle && s3.endpoint?.port == 9000)
    }

    @Test func badValuesNameTheVariableAndNeverTheSecret() {
        let cases: [([String: String], String)] = [
            (["S3_BUCKET": "Bad_Bucket", "S3_ACCESS_KEY_ID": "i", "S3_SECRET_ACCESS_KEY": "s3cr3t-value"], "S3_BUCKET"),
            (["S3_BUCKET": "blobs", "S3_ENDPOINT": "ftp://x", "S3_ACCESS_KEY_ID": "i", "S3_SECRET_ACCESS_KEY": "s3cr3t-value"], "S3_ENDPOINT"),
            (["S3_BUCKET": "blobs", "S3_ACCESS_KEY_ID": "i"], "S3_SECRET_ACCESS_KEY"),
            (["S3_BUCKET": "blobs", "S3_SECRET_ACCESS_KEY": "s3cr3t-value"], "S3_ACCESS_KEY_ID"),
        ]
        for (variables, name) in cases {
            do {
                _ = try ObjectStoreConfiguration(environment: .init(variables), home: "/x")
                Issue.record("\(name) should have been refused")
            } catch let error as StrataError {
                #expect(error.code == .invalidConfiguration && error.message.hasPrefix(name), "\(error.message)")
                #expect(!error.message.contains("s3cr3t-value"))
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }
}

import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1
import StrataCore
public import StrataObjects

#if canImport(Glibc)
import Glibc
#endif

/// Gives a test a file-system object store in a folder of its own, deleted afterwards.
public func withTestFileStore<Result: Sendable>(_ body: (FileSystemObjectStore) async throws -> Result) async throws -> Result {
    let root = NSTemporaryDirectory() + "strata-objects-test-\(getpid())-\(SecureRandom.hex(bytes: 6))"
    defer { try? FileManager.default.removeItem(atPath: root) }
    return try await body(try FileSystemObjectStore(root: root))
}

/// Gives a test an S3 store over a bucket of its own on the test run's S3-compatible server.
///
/// The server is moto's (`moto_server` from PyPI, which `make test` installs into `.venv`; or
/// the one `MOTO_SERVER` names), started once per test process on a free loopback port with
/// **signature checking on**: the harness creates an IAM user and key and every request is
/// signed with it, so a wrong signature fails the test. When the server cannot be had the
/// test fails with the reason; it never skips.
public func withTestS3Store<Result: Sendable>(_ body: (S3ObjectStore) async throws -> Result) async throws -> Result {
    let server = try await TestS3.shared.server
    let store = S3ObjectStore(
        configuration: .init(
            endpoint: server.endpoint,
            bucket: "test-\(SecureRandom.hex(bytes: 8))",
            accessKeyID: server.accessKeyID,
            secretAccessKey: server.secretAccessKey
        )
    )
    try await store.createBucket()
    return try await body(store)
}

/// The S3-compatible server of the test process.
public actor TestS3 {
    public static let shared = TestS3()

    /// Where the server listens and the credentials it accepts.
    public struct Server: Sendable {
        public var endpoint: URL
        public var accessKeyID: String
        public var secretAccessKey: String
    }

    private var starting: Task<Server, any Error>?
    private var lifeline: Lifeline?

    /// The running server, started on first use.
    public var server: Server {
        get async throws {
            if let starting { return try await starting.value }
            let task = Task { try await self.start() }
            starting = task
            return try await task.value
        }
    }

    private func keep(_ lifeline: Lifeline) { self.lifeline = lifeline }

    private func start() async throws -> Server {
        let program = Self.motoServer()
        guard FileManager.default.isExecutableFile(atPath: program) else {
            throw StrataError(
                .dependencyMissing,
                "No S3 test server at \(program): run `make test` (it installs moto into .venv) or set MOTO_SERVER"
            )
        }
        let log = NSTemporaryDirectory() + "strata-moto-test-\(getpid()).log"
        try? FileManager.default.removeItem(atPath: log)
        // The first three requests (the IAM set-up below) need no signature; every later one is checked.
        let lifeline = try Lifeline(
            command: [program, "-H", "127.0.0.1", "-p", "0"],
            logFile: log,
            environment: ["INITIAL_NO_AUTH_ACTION_COUNT": "3"]
        )
        keep(lifeline)
        let deadline = ContinuousClock.now + .seconds(30)
        var endpoint: URL?
        while endpoint == nil {
            if let text = try? String(contentsOfFile: log, encoding: .utf8),
                let range = text.range(of: #"http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression)
            {
                endpoint = URL(string: String(text[range]))
            } else if !lifeline.isRunning || ContinuousClock.now > deadline {
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                throw StrataError(.serverStartFailed, "The S3 test server did not start: \(text.suffix(2000))")
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let (accessKey, secret) = try await Self.createUser(at: endpoint!)
        return Server(endpoint: endpoint!, accessKeyID: accessKey, secretAccessKey: secret)
    }

    private static func motoServer() -> String {
        if let path = ProcessInfo.processInfo.environment["MOTO_SERVER"], !path.isEmpty { return path }
        // Sources/StrataTestSupport/TestObjectStores.swift → the package root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".venv/bin/moto_server").path
    }

    /// Creates an IAM user allowed everything on S3, and a key for it.
    private static func createUser(at endpoint: URL) async throws -> (String, String) {
        let policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#
        _ = try await iam(endpoint, ["Action": "CreateUser", "UserName": "strata-test"])
        let created = try await iam(endpoint, ["Action": "CreateAccessKey", "UserName": "strata-test"])
        _ = try await iam(
            endpoint,
            ["Action": "PutUserPolicy", "UserName": "strata-test", "PolicyName": "s3", "PolicyDocument": policy]
        )
        guard let accessKey = element("AccessKeyId", in: created), let secret = element("SecretAccessKey", in: created) else {
            throw StrataError(.serverStartFailed, "The S3 test server gave no access key: \(created.prefix(500))")
        }
        return (accessKey, secret)
    }

    private static func iam(_ endpoint: URL, _ parameters: [String: String]) async throws -> String {
        let body = AWSSignatureV4.canonicalQuery(parameters.map { ($0.key, $0.value) } + [("Version", "2010-05-08")])
        let host = "\(endpoint.host!):\(endpoint.port!)"
        let signer = AWSSignatureV4(accessKeyID: "bootstrap", secretAccessKey: "bootstrap", region: "us-east-1", service: "iam")
        let payloadHash = AWSSignatureV4.payloadHash(Data(body.utf8))
        var request = HTTPClientRequest(url: endpoint.absoluteString + "/")
        request.method = .POST
        for (name, value) in signer.headers(method: "POST", host: host, path: "/", payloadHash: payloadHash) {
            request.headers.add(name: name, value: value)
        }
        request.headers.add(name: "content-type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard response.status.code == 200 else {
            throw StrataError(.serverStartFailed, "IAM \(parameters["Action"] ?? "") on the S3 test server failed: \(text.prefix(500))")
        }
        return text
    }

    private static func element(_ name: String, in xml: String) -> String? {
        guard let start = xml.range(of: "<\(name)>"), let end = xml[start.upperBound...].range(of: "</\(name)>") else { return nil }
        return String(xml[start.upperBound..<end.lowerBound])
    }
}

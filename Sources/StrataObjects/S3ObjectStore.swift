public import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1
public import StrataCore

/// Objects in a bucket of an S3-compatible service (AWS S3, MinIO, Ceph, R2, moto …), over
/// async-http-client, signed with ``AWSSignatureV4``.
///
/// Uses path-style addressing (`endpoint/bucket/key`) by default when an endpoint is given,
/// virtual-hosted style (`bucket.s3.<region>.amazonaws.com/key`) otherwise. Every operation is
/// idempotent, so a request that fails in transport or with a 5xx (S3's `InternalError`,
/// `SlowDown`) is retried up to three more times with ``Backoff``, as the AWS SDKs do. Every
/// failure is a `storage_unavailable` error naming the operation, the key and S3's error code,
/// never the credentials.
public struct S3ObjectStore: ObjectStore {
    /// Where the bucket is and how to sign for it.
    public struct Configuration: Sendable {
        /// `http(s)://host[:port]` of the service; `nil` means AWS (`https://s3.<region>.amazonaws.com`).
        public var endpoint: URL?
        public var bucket: String
        public var region: String
        public var accessKeyID: String
        public var secretAccessKey: String
        /// `endpoint/bucket/key` (true) or `bucket.endpoint/key` (false).
        public var pathStyle: Bool
        /// Longest wait for one request.
        public var timeout: Duration
        /// Largest object ``S3ObjectStore/get(_:)`` reads into memory.
        public var maxObjectSize: Int
        /// Attempts per request when the service fails (5xx or transport).
        public var attempts: Int = 4
        /// The waits between those attempts.
        public var backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(2))

        public init(
            endpoint: URL?,
            bucket: String,
            region: String = "us-east-1",
            accessKeyID: String,
            secretAccessKey: String,
            pathStyle: Bool? = nil,
            timeout: Duration = .seconds(30),
            maxObjectSize: Int = 1 << 30
        ) {
            self.endpoint = endpoint
            self.bucket = bucket
            self.region = region
            self.accessKeyID = accessKeyID
            self.secretAccessKey = secretAccessKey
            self.pathStyle = pathStyle ?? (endpoint != nil)
            self.timeout = timeout
            self.maxObjectSize = maxObjectSize
        }
    }

    public let configuration: Configuration
    private let client: HTTPClient
    private let signer: AWSSignatureV4
    private let scheme: String
    private let host: String

    /// A store over `configuration`'s bucket.
    /// - Parameter client: The HTTP client (the process's shared one by default).
    public init(configuration: Configuration, client: HTTPClient = .shared) {
        self.configuration = configuration
        self.client = client
        self.signer = AWSSignatureV4(
            accessKeyID: configuration.accessKeyID,
            secretAccessKey: configuration.secretAccessKey,
            region: configuration.region,
            service: "s3"
        )
        let endpoint = configuration.endpoint ?? URL(string: "https://s3.\(configuration.region).amazonaws.com")!
        scheme = endpoint.scheme ?? "https"
        let base = endpoint.host ?? "localhost"
        let authority = endpoint.port.map { "\(base):\($0)" } ?? base
        host = configuration.pathStyle ? authority : "\(configuration.bucket).\(authority)"
    }

    @discardableResult
    public func put(_ data: Data, at key: ObjectKey, contentType: String?) async throws -> ObjectInfo {
        var headers: [(String, String)] = [("content-length", "\(data.count)")]
        if let contentType { headers.append(("content-type", contentType)) }
        let response = try await send(.PUT, "put", key: key, body: data, headers: headers)
        try response.expectSuccess("put", key)
        return ObjectInfo(key: key, size: Int64(data.count), lastModified: Date())
    }

    public func get(_ key: ObjectKey) async throws -> Data? {
        let response = try await send(.GET, "get", key: key)
        if response.status == 404 { return nil }
        try response.expectSuccess("get", key)
        return Data(response.body.readableBytesView)
    }

    public func info(_ key: ObjectKey) async throws -> ObjectInfo? {
        let response = try await send(.HEAD, "read", key: key)
        if response.status == 404 { return nil }
        try response.expectSuccess("read", key)
        let size = response.headers.first(name: "content-length").flatMap { Int64($0) } ?? 0
        let modified = response.headers.first(name: "last-modified").flatMap(Self.parseHTTPDate) ?? Date()
        return ObjectInfo(key: key, size: size, lastModified: modified)
    }

    public func delete(_ key: ObjectKey) async throws {
        let response = try await send(.DELETE, "delete", key: key)
        // S3 answers 204 whether or not the key existed; some compatible servers say 404.
        if response.status == 404 { return }
        try response.expectSuccess("delete", key)
    }

    public func list(prefix: String, after: ObjectKey?, limit: Int) async throws -> [ObjectInfo] {
        var query = [("list-type", "2"), ("max-keys", "\(max(1, min(limit, 1000)))")]
        if !prefix.isEmpty { query.append(("prefix", prefix)) }
        if let after { query.append(("start-after", after.rawValue)) }
        let response = try await send(.GET, "list", key: nil, query: query)
        try response.expectSuccess("list", nil)
        let xml = Substring(String(buffer: response.body))
        return S3XML.elements("Contents", in: xml).compactMap { entry in
            // Keys written by other tools may not be valid Strata keys: they are not listed.
            guard let text = S3XML.text("Key", in: entry), let key = try? ObjectKey(text) else { return nil }
            let size = S3XML.text("Size", in: entry).flatMap { Int64($0) } ?? 0
            let modified = S3XML.text("LastModified", in: entry).flatMap(Self.parseISODate) ?? Date()
            return ObjectInfo(key: key, size: size, lastModified: modified)
        }
    }

    /// Creates the bucket (in the configured region); an existing bucket of ours is fine.
    public func createBucket() async throws {
        var body = Data()
        if configuration.region != "us-east-1" {
            body = Data(
                """
                <CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>\(configuration.region)</LocationConstraint></CreateBucketConfiguration>
                """.utf8
            )
        }
        let response = try await send(.PUT, "create the bucket", key: nil, body: body, headers: [("content-length", "\(body.count)")])
        if response.status == 409, response.errorCode == "BucketAlreadyOwnedByYou" { return }
        try response.expectSuccess("create the bucket", nil)
    }

    // MARK: - Requests

    struct Response {
        var status: Int
        var headers: HTTPHeaders
        var body: ByteBuffer

        var errorCode: String? { S3XML.text("Code", in: Substring(String(buffer: body))) }

        func expectSuccess(_ action: String, _ key: ObjectKey?) throws {
            guard !(200..<300).contains(status) else { return }
            let xml = Substring(String(buffer: body))
            let code = S3XML.text("Code", in: xml) ?? "HTTP \(status)"
            let message = S3XML.text("Message", in: xml).map { ": \($0)" } ?? ""
            let target = key.map { " \($0)" } ?? ""
            var details = ["s3_code": code]
            if status >= 500 { details["retryable"] = "true" }
            throw StrataError(.storageUnavailable, "Object storage refused to \(action)\(target): \(code)\(message)", details: details)
        }
    }

    private func send(
        _ method: HTTPMethod,
        _ action: String,
        key: ObjectKey?,
        query: [(String, String)] = [],
        body: Data? = nil,
        headers extra: [(String, String)] = []
    ) async throws -> Response {
        var path = configuration.pathStyle ? "/\(configuration.bucket)" : ""
        if let key { path += "/\(key.rawValue)" }
        if path.isEmpty { path = "/" }
        let payloadHash = body.map(AWSSignatureV4.payloadHash) ?? AWSSignatureV4.emptyPayloadHash
        let queryString = AWSSignatureV4.canonicalQuery(query)
        var request = HTTPClientRequest(
            url: "\(scheme)://\(host)\(AWSSignatureV4.encode(path, keepSlash: true))\(queryString.isEmpty ? "" : "?" + queryString)"
        )
        request.method = method
        for (name, value) in signer.headers(method: method.rawValue, host: host, path: path, query: query, payloadHash: payloadHash) {
            request.headers.add(name: name, value: value)
        }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        return try await configuration.backoff.retrying(attempts: configuration.attempts, when: Self.isWorthRetrying) {
            let response: HTTPClientResponse
            let bytes: ByteBuffer
            do {
                response = try await client.execute(request, timeout: .milliseconds(configuration.timeout.milliseconds))
                bytes = try await response.body.collect(upTo: method == .GET ? configuration.maxObjectSize : 1 << 20)
            } catch {
                let target = key.map { " \($0)" } ?? ""
                throw StrataError(
                    .storageUnavailable,
                    "Object storage at \(host) could not \(action)\(target): \(error)",
                    details: ["retryable": "true"],
                    underlying: error
                )
            }
            let result = Response(status: Int(response.status.code), headers: response.headers, body: bytes)
            if result.status >= 500 { try result.expectSuccess(action, key) }
            return result
        }
    }

    /// Transport failures and 5xx answers; never 4xx (the request itself is wrong).
    private static func isWorthRetrying(_ error: any Error) -> Bool {
        guard let error = error as? StrataError else { return false }
        return error.details["retryable"] == "true"
    }

    static func parseISODate(_ text: String) -> Date? {
        (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
            ?? (try? Date(text, strategy: Date.ISO8601FormatStyle()))
    }

    static func parseHTTPDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }
}

import Foundation
public import StrataCore

/// Which object store the server uses, from the environment.
///
/// | variable | default | meaning |
/// |---|---|---|
/// | `S3_BUCKET` | unset: the file-system store | the bucket; setting it selects the S3 store |
/// | `S3_ENDPOINT` | AWS | `http(s)://host[:port]` of an S3-compatible service |
/// | `S3_REGION` | `us-east-1` | the region signed for |
/// | `S3_ACCESS_KEY_ID`, `S3_SECRET_ACCESS_KEY` | required with `S3_BUCKET` | credentials |
/// | `S3_FORCE_PATH_STYLE` | true with an endpoint | `endpoint/bucket/key` instead of `bucket.endpoint/key` |
///
/// Without `S3_BUCKET`, objects are files under `$STRATA_HOME/objects`.
public enum ObjectStoreConfiguration: Sendable {
    case fileSystem(root: String)
    case s3(S3ObjectStore.Configuration)

    /// Reads the variables above.
    /// - Parameter home: `$STRATA_HOME`, for the file-system store's folder.
    /// - Throws: `invalid_configuration` naming the variable at fault (never a secret's value).
    public init(environment: EnvironmentReader, home: String) throws {
        guard let bucket = environment.string("S3_BUCKET") else {
            self = .fileSystem(root: "\(home)/objects")
            return
        }
        guard (3...63).contains(bucket.count), bucket.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "." }),
            bucket.first?.isLetter == true || bucket.first?.isNumber == true
        else {
            throw environment.invalid("S3_BUCKET", bucket, allowed: "3-63 lower-case letters, digits, '-' and '.'")
        }
        var endpoint: URL?
        if let raw = environment.string("S3_ENDPOINT") {
            guard let url = URL(string: raw), ["http", "https"].contains(url.scheme ?? ""), url.host?.isEmpty == false,
                url.path.isEmpty || url.path == "/", url.user == nil
            else {
                throw environment.invalid("S3_ENDPOINT", raw, allowed: "http(s)://host[:port] with no path or credentials")
            }
            endpoint = url
        }
        let region = environment.string("S3_REGION", default: "us-east-1")
        guard !region.isEmpty, region.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
            throw environment.invalid("S3_REGION", region, allowed: "a region name such as us-east-1")
        }
        guard let accessKey = environment.string("S3_ACCESS_KEY_ID") else {
            throw StrataError(.invalidConfiguration, "S3_ACCESS_KEY_ID: required when S3_BUCKET is set", details: ["variable": "S3_ACCESS_KEY_ID"])
        }
        guard let secret = environment.string("S3_SECRET_ACCESS_KEY") else {
            throw StrataError(
                .invalidConfiguration,
                "S3_SECRET_ACCESS_KEY: required when S3_BUCKET is set",
                details: ["variable": "S3_SECRET_ACCESS_KEY"]
            )
        }
        let pathStyle = try environment.bool("S3_FORCE_PATH_STYLE", default: endpoint != nil)
        self = .s3(
            .init(endpoint: endpoint, bucket: bucket, region: region, accessKeyID: accessKey, secretAccessKey: secret, pathStyle: pathStyle)
        )
    }

    /// The store this configuration names (the file-system store's folder is created).
    public func makeStore() throws -> any ObjectStore {
        switch self {
        case .fileSystem(let root): return try FileSystemObjectStore(root: root)
        case .s3(let configuration): return S3ObjectStore(configuration: configuration)
        }
    }

    /// Where objects go, for logs (no credentials).
    public var summary: String {
        switch self {
        case .fileSystem(let root): return "files under \(root)"
        case .s3(let configuration):
            return "S3 bucket \(configuration.bucket) at \(configuration.endpoint?.absoluteString ?? "AWS \(configuration.region)")"
        }
    }
}

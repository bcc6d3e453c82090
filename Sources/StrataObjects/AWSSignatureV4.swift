import Crypto
public import Foundation
import StrataCore

/// Signs HTTP requests with AWS Signature Version 4, as S3 and its compatible servers check.
///
/// The signer covers the method, the path, the query, the `host`, `x-amz-date` and
/// `x-amz-content-sha256` headers and the payload's SHA-256 (other headers, such as
/// `Content-Type`, are sent unsigned). Paths are encoded once, as S3 expects.
///
/// ```swift
/// let signer = AWSSignatureV4(accessKeyID: id, secretAccessKey: secret, region: "us-east-1", service: "s3")
/// let headers = signer.headers(method: "GET", host: "127.0.0.1:9000", path: "/bucket/key", payloadHash: AWSSignatureV4.emptyPayloadHash)
/// ```
public struct AWSSignatureV4: Sendable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var region: String
    public var service: String

    /// The SHA-256 of an empty body.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public init(accessKeyID: String, secretAccessKey: String, region: String, service: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.region = region
        self.service = service
    }

    /// The hex SHA-256 of a body, as `x-amz-content-sha256` carries it.
    public static func payloadHash(_ body: Data) -> String {
        hex(SHA256.hash(data: body))
    }

    /// The headers to send: `host`, `x-amz-date`, `x-amz-content-sha256` and `authorization`.
    /// - Parameters:
    ///   - path: The request path, not yet percent-encoded (`/bucket/a b.txt`).
    ///   - query: Query parameters, not yet percent-encoded.
    ///   - payloadHash: Hex SHA-256 of the body (``emptyPayloadHash`` for none).
    ///   - extraSignedHeaders: More headers to sign (lower-case names), sent as given.
    public func headers(
        method: String,
        host: String,
        path: String,
        query: [(String, String)] = [],
        payloadHash: String,
        extraSignedHeaders: [String: String] = [:],
        date: Date = Date()
    ) -> [(String, String)] {
        let (amzDate, day) = Self.timestamps(date)
        var signed = extraSignedHeaders
        signed["host"] = host
        signed["x-amz-date"] = amzDate
        signed["x-amz-content-sha256"] = payloadHash
        let names = signed.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(signed[$0]!.trimmingCharacters(in: .whitespaces))\n" }.joined()
        let signedHeaderList = names.joined(separator: ";")
        let canonicalRequest = [
            method,
            Self.encode(path, keepSlash: true),
            Self.canonicalQuery(query),
            canonicalHeaders,
            signedHeaderList,
            payloadHash,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256",
            amzDate,
            scope,
            Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8))),
        ].joined(separator: "\n")
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: signingKey(day: day)))
        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope), SignedHeaders=\(signedHeaderList), Signature=\(signature)"
        return names.map { ($0, signed[$0]!) } + [("authorization", authorization)]
    }

    /// The query string as it must be sent (and as it is signed): sorted, encoded.
    public static func canonicalQuery(_ query: [(String, String)]) -> String {
        let pairs: [(String, String)] = query.map { (encode($0.0, keepSlash: false), encode($0.1, keepSlash: false)) }
        let sorted = pairs.sorted { (left: (String, String), right: (String, String)) -> Bool in
            left.0 == right.0 ? left.1 < right.1 : left.0 < right.0
        }
        return sorted.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// Percent-encodes every byte except the unreserved characters of RFC 3986 (and `/` when
    /// `keepSlash`), as Signature Version 4 requires.
    public static func encode(_ text: String, keepSlash: Bool) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                result.append("/")
            default:
                result += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return result
    }

    private func signingKey(day: String) -> SymmetricKey {
        var key = SymmetricKey(data: Data("AWS4\(secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return key
    }

    /// `20130524T000000Z` and `20130524`, in UTC.
    static func timestamps(_ date: Date) -> (String, String) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let day =
            String(Int(parts.tm_year) + 1900).leftPadded(to: 4) + String(Int(parts.tm_mon) + 1).leftPadded(to: 2)
            + String(Int(parts.tm_mday)).leftPadded(to: 2)
        let time =
            String(Int(parts.tm_hour)).leftPadded(to: 2) + String(Int(parts.tm_min)).leftPadded(to: 2) + String(Int(parts.tm_sec)).leftPadded(to: 2)
        return ("\(day)T\(time)Z", day)
    }

    static func hex(_ digest: some Sequence<UInt8>) -> String {
        Hex.encode(digest)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

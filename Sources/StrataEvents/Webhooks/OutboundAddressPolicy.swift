import Foundation
import NIOPosix
public import StrataCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `fd00::/8`, or one address).
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    /// The network's address bytes (4 or 16).
    public let bytes: [UInt8]
    /// The prefix length in bits.
    public let prefix: Int

    /// Parses `address[/prefix]`; nil when it is not one.
    public init?(_ text: String) {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let bytes = IPNetwork.address(String(parts[0])) else { return nil }
        let width = bytes.count * 8
        if parts.count == 2 {
            guard let prefix = Int(parts[1]), (0...width).contains(prefix) else { return nil }
            self.prefix = prefix
        } else {
            self.prefix = width
        }
        self.bytes = bytes
    }

    /// Whether `address` (4 or 16 bytes) lies in this network.
    public func contains(_ address: [UInt8]) -> Bool {
        guard address.count == bytes.count else { return false }
        var remaining = prefix
        for index in bytes.indices where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if address[index] & mask != bytes[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    public var description: String { "\(Self.text(of: bytes) ?? "?")/\(prefix)" }

    /// The bytes of a literal IPv4 or IPv6 address (an IPv4-mapped IPv6 address as its IPv4
    /// bytes), or nil.
    public static func address(_ text: String) -> [UInt8]? {
        var host = text
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return nil }
        return unmapped(withUnsafeBytes(of: &v6) { Array($0) })
    }

    /// The conventional text of a 4- or 16-byte address (`inet_ntop`), or nil.
    public static func text(of address: [UInt8]) -> String? {
        let family: Int32
        switch address.count {
        case 4: family = AF_INET
        case 16: family = AF_INET6
        default: return nil
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard address.withUnsafeBytes({ inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }) != nil else { return nil }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// IPv4-mapped (`::ffff:a.b.c.d`) and NAT64 (`64:ff9b::a.b.c.d`) IPv6 addresses name an IPv4
    /// host: they are judged as that host.
    static func unmapped(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count == 16 else { return bytes }
        let mapped = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
        let nat64 = bytes[0..<12] == [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0]
        return mapped || nat64 ? Array(bytes[12..<16]) : bytes
    }
}

/// Which hosts outbound requests made on a user's behalf (webhooks, callbacks) may reach — the
/// guard against server-side request forgery. By default only public addresses: loopback,
/// private (RFC 1918, unique-local), link-local (where cloud metadata services answer),
/// carrier-grade NAT, benchmarking, documentation, multicast and reserved ranges are refused.
/// ``allowed`` networks are let through anyway (an internal receiver you trust); ``denied`` ones
/// are refused on top.
///
/// A URL is checked twice: ``problem(with:)`` when it is submitted (scheme, literal addresses,
/// `localhost`), and ``check(_:)`` before every request (every address its host resolves to).
/// ``check(_:)`` returns the ``OutboundTarget`` it judged: the request must connect to that
/// address and not resolve the name again, or a name that changes its answer between the check
/// and the connection (DNS rebinding) would lead past the policy. ``WebhookDelivery`` does so.
///
/// Configured by `WEBHOOK_ALLOWED_NETWORKS` and `WEBHOOK_DENIED_NETWORKS` (comma-separated CIDRs).
public struct OutboundAddressPolicy: Sendable {
    /// Let through although the built-in list refuses them.
    public var allowed: [IPNetwork]
    /// Refused in addition to the built-in list.
    public var denied: [IPNetwork]
    /// Resolves a host name to its IPv4 and IPv6 addresses; ``systemResolver`` unless replaced.
    public var resolver: @Sendable (String) async throws -> [[UInt8]]

    /// Ranges that are not the public internet (IANA special-purpose registries).
    public static let nonPublic: [IPNetwork] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
        "224.0.0.0/4", "240.0.0.0/4", "::/128", "::1/128", "100::/64", "2001::/23", "2001:db8::/32", "fc00::/7",
        "fe80::/10", "ff00::/8",
    ].map { IPNetwork($0)! }

    /// Public addresses only.
    public static let publicOnly = OutboundAddressPolicy()

    public init(
        allowed: [IPNetwork] = [],
        denied: [IPNetwork] = [],
        resolver: @escaping @Sendable (String) async throws -> [[UInt8]] = OutboundAddressPolicy.systemResolver
    ) {
        self.allowed = allowed
        self.denied = denied
        self.resolver = resolver
    }

    /// Reads `WEBHOOK_ALLOWED_NETWORKS` and `WEBHOOK_DENIED_NETWORKS`.
    /// - Throws: `invalid_configuration` naming the variable when an entry is not a CIDR.
    public init(environment: EnvironmentReader) throws {
        func networks(_ key: String) throws -> [IPNetwork] {
            guard let raw = environment.string(key) else { return [] }
            return try raw.split(separator: ",").map { entry in
                guard let network = IPNetwork(String(entry)) else {
                    throw environment.invalid(key, raw, allowed: "comma-separated networks such as 10.0.0.0/8, 127.0.0.1, fd00::/8")
                }
                return network
            }
        }
        self.init(allowed: try networks("WEBHOOK_ALLOWED_NETWORKS"), denied: try networks("WEBHOOK_DENIED_NETWORKS"))
    }

    /// Why an address may not be reached, or nil.
    public func refusal(of address: [UInt8]) -> String? {
        let address = IPNetwork.unmapped(address)
        if let network = denied.first(where: { $0.contains(address) }) { return "lies in the denied network \(network)" }
        if allowed.contains(where: { $0.contains(address) }) { return nil }
        if let network = Self.nonPublic.first(where: { $0.contains(address) }) { return "is not a public address (\(network))" }
        return nil
    }

    /// Checks a URL as submitted, without resolving names: an absolute `http`/`https` URL of at
    /// most 2,000 characters, without credentials, whose host is not `localhost` nor a refused
    /// literal address. - Returns: the reason it is refused, or nil.
    public func problem(with url: String) -> String? {
        guard url.count <= 2000, let parsed = URLComponents(string: url), let scheme = parsed.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = parsed.host, !host.isEmpty
        else { return "must be an absolute http or https URL of at most 2000 characters" }
        if parsed.user != nil || parsed.password != nil { return "must not carry credentials" }
        let name = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        if name == "localhost" || name.hasSuffix(".localhost") {
            return allowed.contains(where: { $0.contains([127, 0, 0, 1]) }) ? nil : "must not name this machine (localhost)"
        }
        if let address = IPNetwork.address(host), let refusal = refusal(of: address) { return "host \(refusal)" }
        return nil
    }

    /// Checks a URL before a request: ``problem(with:)``, then every address its host resolves
    /// to. - Returns: where the request must connect: the first of those addresses, all of which
    /// passed. - Throws: `outbound_address_refused` (not worth retrying) naming the reason.
    @discardableResult
    public func check(_ url: String) async throws -> OutboundTarget {
        if let problem = problem(with: url) { throw StrataError(.outboundAddressRefused, "The URL \(problem).") }
        // The host as async-http-client reads it (`URL.host`, an IPv6 address without brackets),
        // so that the pinned name is the one its connection looks up. `problem(with:)` has
        // judged a literal address already.
        guard let host = URL(string: url)?.host, !host.isEmpty else { throw StrataError(.outboundAddressRefused, "The URL has no host.") }
        if IPNetwork.address(host) != nil { return OutboundTarget(host: host, address: nil) }
        let addresses = try await resolver(host)
        guard let first = addresses.first, let text = IPNetwork.text(of: first) else {
            throw StrataError(.outboundAddressRefused, "The URL's host does not resolve.")
        }
        for address in addresses {
            if let refusal = refusal(of: address) {
                throw StrataError(.outboundAddressRefused, "The URL's host resolves to an address that \(refusal).")
            }
        }
        return OutboundTarget(host: host, address: text)
    }

    /// Every IPv4 and IPv6 address a name resolves to (getaddrinfo, off the event loops).
    @Sendable public static func systemResolver(_ host: String) async throws -> [[UInt8]] {
        try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            #else
            hints.ai_socktype = SOCK_STREAM
            #endif
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return [] }
            defer { freeaddrinfo(first) }
            var addresses: [[UInt8]] = []
            var entry: UnsafeMutablePointer<addrinfo>? = first
            while let current = entry {
                if let socketAddress = current.pointee.ai_addr {
                    switch Int32(socketAddress.pointee.sa_family) {
                    case AF_INET:
                        socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                            var raw = v4.pointee.sin_addr
                            addresses.append(withUnsafeBytes(of: &raw) { Array($0) })
                        }
                    case AF_INET6:
                        socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                            var raw = v6.pointee.sin6_addr
                            addresses.append(withUnsafeBytes(of: &raw) { Array($0) })
                        }
                    default: break
                    }
                }
                entry = current.pointee.ai_next
            }
            return addresses
        }
    }
}

/// Where an outbound request checked by ``OutboundAddressPolicy/check(_:)`` must go.
public struct OutboundTarget: Sendable, Hashable {
    /// The URL's host, as written.
    public let host: String
    /// The checked address to connect to instead of resolving ``host`` again (`203.0.113.7`,
    /// `2001:db8::7`); nil when the host is itself an address.
    public let address: String?

    public init(host: String, address: String?) {
        self.host = host
        self.address = address
    }
}

extension StrataError.Code {
    /// An outbound request's host is not one the server may reach (see ``OutboundAddressPolicy``).
    public static let outboundAddressRefused = Self("outbound_address_refused", kind: .invalidInput)
}

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Small file-system and socket helpers for the server managers.
public enum FileSystem {
    /// Creates a folder with `mode`, owned by `owner` when given; missing parents get the
    /// default mode so that the owner can reach the folder.
    public static func makeDirectory(_ path: String, mode: Int, owner: ChildProcess.User?) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: nil)
        } catch {
            throw StrataError(.serverStartFailed, "Cannot create \(path): \(error.localizedDescription)", underlying: error)
        }
        chmod(path, mode_t(mode))
        if let owner { chown(path, owner.uid, owner.gid) }
    }

    /// Writes a secret file readable only by its owner.
    public static func writeSecret(_ text: String, to path: String, owner: ChildProcess.User?) throws {
        _ = FileManager.default.createFile(atPath: path, contents: Data((text + "\n").utf8), attributes: [.posixPermissions: 0o600])
        chmod(path, 0o600)
        if let owner { chown(path, owner.uid, owner.gid) }
    }

    /// Takes an exclusive `flock` on a file (waiting at most a second) and returns its
    /// descriptor; the lock lasts until the descriptor is closed or the process exits. The
    /// file then holds this process's id (``lockHolder(_:)``).
    /// - Throws: `server_start_failed` when another process holds it.
    public static func lockExclusively(_ path: String) throws -> Int32 {
        let descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw StrataError(.serverStartFailed, "Cannot open \(path) (errno \(errno))")
        }
        // A child being spawned by another thread holds a copy of every open file description
        // until its exec closes the close-on-exec ones, so a lock released a moment ago can
        // look held for a few milliseconds. A real second manager holds it for good.
        var attempts = 0
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 && attempts < 50 {
            attempts += 1
            usleep(20_000)
        }
        guard attempts < 50 else {
            close(descriptor)
            throw StrataError(
                .serverStartFailed,
                "Another Strata process is using \((path as NSString).deletingLastPathComponent); stop it or choose another STRATA_HOME"
            )
        }
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(descriptor, 0) == 0 { _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) } }
        return descriptor
    }

    /// The process that took the lock on `path` last (it may have ended since).
    public static func lockHolder(_ path: String) -> Int32? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago.
    public static func freeLoopbackPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw StrataError(.serverStartFailed, "Cannot create a socket (errno \(errno))") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(descriptor, raw, length) == 0 && getsockname(descriptor, raw, &length) == 0
            }
        }
        guard bound else { throw StrataError(.serverStartFailed, "Cannot find a free loopback port (errno \(errno))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

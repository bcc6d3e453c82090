public import Foundation
import NIOPosix
import StrataCore

#if canImport(Glibc)
import Glibc
#endif

/// Objects as files under a folder: the embedded default (`$STRATA_HOME/objects`).
///
/// A key maps to the path of the same name under ``root`` (keys cannot climb out of it, see
/// ``ObjectKey``). A write goes to a temporary file beside the target (a name that starts with
/// `.`, so never a key), is flushed to disk, then renamed over the target and the folder is
/// flushed: a crash leaves the old object or the new one. Listing walks the folder of the
/// prefix, which is fine for the object counts of one server; use ``S3ObjectStore`` beyond.
/// Files and folders are private to the server's user (0600 / 0700).
public struct FileSystemObjectStore: ObjectStore {
    /// The folder holding the objects.
    public let root: String

    /// A store under `root`, created when missing.
    public init(root: String) throws {
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
        try Self.makeDirectories(self.root)
    }

    /// A store in a new folder under the temporary directory (for tests and tools that keep
    /// nothing). The folder is created by the first write, so a store that is never written
    /// leaves nothing behind.
    public static func temporary() -> FileSystemObjectStore {
        FileSystemObjectStore(uncheckedRoot: NSTemporaryDirectory() + "strata-objects-\(getpid())-\(SecureRandom.hex(bytes: 6))")
    }

    private init(uncheckedRoot: String) {
        root = uncheckedRoot
    }

    @discardableResult
    public func put(_ data: Data, at key: ObjectKey, contentType: String?) async throws -> ObjectInfo {
        let path = path(of: key)
        return try await blocking { [root] in
            let folder = String(path[..<path.lastIndex(of: "/")!])
            try Self.makeDirectories(folder, below: root)
            let temporary = "\(folder)/.tmp-\(SecureRandom.hex(bytes: 8))"
            let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw Self.failure("create", key, errno) }
            var written = 0
            let result: Int32 = data.withUnsafeBytes { buffer in
                while written < buffer.count {
                    let count = write(descriptor, buffer.baseAddress! + written, buffer.count - written)
                    if count < 0 {
                        if errno == EINTR { continue }
                        return errno
                    }
                    written += count
                }
                return fsync(descriptor) == 0 ? 0 : errno
            }
            close(descriptor)
            guard result == 0, rename(temporary, path) == 0 else {
                let code = result == 0 ? errno : result
                unlink(temporary)
                throw Self.failure("write", key, code)
            }
            Self.syncDirectory(folder)
            return try Self.info(at: path, key: key) ?? ObjectInfo(key: key, size: Int64(data.count), lastModified: Date())
        }
    }

    public func get(_ key: ObjectKey) async throws -> Data? {
        let path = path(of: key)
        return try await blocking {
            do {
                return try Data(contentsOf: URL(fileURLWithPath: path), options: .uncached)
            } catch let error as CocoaError where error.code == .fileReadNoSuchFile {
                return nil
            } catch let error as CocoaError where error.code == .fileReadUnknown {
                // A folder of that name (a prefix of other keys) is not an object.
                return nil
            }
        }
    }

    public func info(_ key: ObjectKey) async throws -> ObjectInfo? {
        let path = path(of: key)
        return try await blocking { try Self.info(at: path, key: key) }
    }

    public func delete(_ key: ObjectKey) async throws {
        let path = path(of: key)
        try await blocking {
            guard unlink(path) == 0 || errno == ENOENT || errno == EISDIR || errno == ENOTDIR else {
                throw Self.failure("delete", key, errno)
            }
        }
    }

    public func list(prefix: String, after: ObjectKey?, limit: Int) async throws -> [ObjectInfo] {
        let limit = max(1, min(limit, 1000))
        return try await blocking { [root] in
            // Walk only the folder the prefix is in.
            let folderPart = prefix.lastIndex(of: "/").map { String(prefix[..<$0]) } ?? ""
            guard folderPart.isEmpty || ObjectKey.problem(with: folderPart) == nil else { return [] }
            var keys: [String] = []
            Self.collect(
                folder: folderPart.isEmpty ? root : "\(root)/\(folderPart)",
                keyPrefix: folderPart.isEmpty ? "" : folderPart + "/",
                into: &keys
            )
            let lowerBound = after?.rawValue
            let chosen =
                keys
                .filter { key in key.hasPrefix(prefix) && (lowerBound.map { $0.utf8.lexicographicallyPrecedes(key.utf8) } ?? true) }
                .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                .prefix(limit)
            return try chosen.compactMap { text in
                let key = try ObjectKey(text)
                return try Self.info(at: "\(root)/\(text)", key: key)
            }
        }
    }

    // MARK: - Files

    private func path(of key: ObjectKey) -> String { "\(root)/\(key.rawValue)" }

    private func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(work)
    }

    private static func info(at path: String, key: ObjectKey) throws -> ObjectInfo? {
        var status = stat()
        guard stat(path, &status) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw failure("read", key, errno)
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else { return nil }
        let modified = Date(
            timeIntervalSince1970: TimeInterval(status.st_mtim.tv_sec) + TimeInterval(status.st_mtim.tv_nsec) / 1e9
        )
        return ObjectInfo(key: key, size: Int64(status.st_size), lastModified: modified)
    }

    /// Every object key below `folder` (skipping temporary and hidden files).
    private static func collect(folder: String, keyPrefix: String, into keys: inout [String]) {
        guard let directory = opendir(folder) else { return }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            guard !name.hasPrefix(".") else { continue }
            let path = "\(folder)/\(name)"
            var status = stat()
            guard lstat(path, &status) == 0 else { continue }
            switch status.st_mode & S_IFMT {
            case S_IFDIR: collect(folder: path, keyPrefix: keyPrefix + name + "/", into: &keys)
            case S_IFREG: keys.append(keyPrefix + name)
            default: continue
            }
        }
    }

    /// Creates `folder` and its parents (mode 0700). Below `root`, a file standing where a
    /// folder is needed is an error naming the key's conflict.
    private static func makeDirectories(_ folder: String, below root: String? = nil) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue { return }
        do {
            try FileManager.default.createDirectory(
                atPath: folder,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            if root != nil {
                throw StrataError(.conflict, "An object already exists where the key needs a folder", details: ["field": "key"])
            }
            throw StrataError(.invalidConfiguration, "Cannot create the object folder \(folder): \(error.localizedDescription)", underlying: error)
        }
    }

    private static func syncDirectory(_ folder: String) {
        let descriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }

    private static func failure(_ action: String, _ key: ObjectKey, _ code: Int32) -> StrataError {
        if code == EISDIR || code == ENOTDIR {
            return StrataError(.conflict, "Object key \(key) clashes with a folder of other objects", details: ["field": "key"])
        }
        let reason = String(cString: strerror(code))
        return StrataError(.storageUnavailable, "Object storage could not \(action) \(key): \(reason)")
    }
}

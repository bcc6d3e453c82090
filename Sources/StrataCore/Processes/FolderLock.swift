import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on `<folder>/manager.lock`: proof that this process manages the
/// server in that folder. Released by ``release()`` (once; later calls do nothing) or when the
/// process exits.
public final class FolderLock: Sendable {
    private let descriptor: Mutex<Int32?>

    /// Takes the lock.
    /// - Throws: `server_start_failed` when another process holds it.
    public init(folder: String) throws {
        descriptor = Mutex(try FileSystem.lockExclusively("\(folder)/manager.lock"))
    }

    /// Releases the lock.
    /// - Returns: Whether this call released it (false when it was already released).
    @discardableResult
    public func release() -> Bool {
        guard
            let held = descriptor.withLock({ current -> Int32? in
                defer { current = nil }
                return current
            })
        else { return false }
        close(held)
        return true
    }
}

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs programs with arguments as an array (never through a shell command line), optionally
/// as another, unprivileged user.
///
/// Children are started with `posix_spawn`, an **empty signal mask and default signal
/// handlers**. Foundation's `Process` would pass on the mask of the Swift thread that starts
/// it, where signals such as `SIGCHLD` and `SIGALRM` are blocked: a shell then never sees
/// its child exit, and `pgbench -T` never stops.
public enum ChildProcess {
    /// The user a server process runs as.
    public struct User: Sendable, Equatable {
        public var name: String
        public var uid: UInt32
        public var gid: UInt32

        /// The user to run servers as: ourselves (`nil`), or when we are root (servers such as
        /// PostgreSQL refuse root), the `postgres` system user, else `nobody`.
        public static func forServers() throws -> User? {
            guard geteuid() == 0 else { return nil }
            for name in ["postgres", "nobody"] {
                if let entry = getpwnam(name) {
                    return User(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
                }
            }
            throw StrataError(
                .dependencyMissing,
                "Running as root but no unprivileged user (postgres or nobody) exists to run the database server",
                details: ["package": "postgresql"]
            )
        }

        /// The argument prefix that runs a program as this user.
        public var commandPrefix: [String] {
            ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--"]
        }
    }

    /// Runs a program to completion on a thread of its own (``onOwnThread(_:)``) and returns
    /// its standard output and standard error, interleaved.
    /// - Throws: `server_start_failed` when the program cannot start or exits non-zero, with
    ///   the error lines of its output.
    public static func run(
        _ program: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        as user: User? = nil
    ) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            onOwnThread {
                continuation.resume(with: Result { try output(of: program, arguments, environment: environment, as: user) })
            }
        }
    }

    /// Runs `work`, which blocks for as long as a child process takes (reading its output,
    /// waiting for its exit), on a new thread. Neither Swift's cooperative pool nor
    /// Dispatch's global queues may be blocked for that long: both have about as many threads
    /// as cores, and a backup or a restore that takes minutes would stall every other task
    /// that needs one.
    public static func onOwnThread(_ work: @escaping @Sendable () -> Void) {
        Thread.detachNewThread(work)
    }

    /// Runs a program to completion on the calling thread (blocking).
    public static func output(
        of program: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        as user: User? = nil
    ) throws -> String {
        let command = (user?.commandPrefix ?? []) + [program] + arguments
        var pipeDescriptors: [Int32] = [0, 0]
        guard pipe(&pipeDescriptors) == 0 else { throw StrataError(.serverStartFailed, "Cannot create a pipe (errno \(errno))") }
        let (readEnd, writeEnd) = (pipeDescriptors[0], pipeDescriptors[1])
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)
        let nullDevice = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(nullDevice) }
        let pid: pid_t
        do {
            pid = try spawn(command, environment: environment, input: nullDevice, output: writeEnd, newSession: false)
        } catch {
            close(readEnd)
            close(writeEnd)
            throw StrataError(.dependencyMissing, "Cannot run \(program): \(error)")
        }
        close(writeEnd)
        let handle = FileHandle(fileDescriptor: readEnd, closeOnDealloc: true)
        let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        let status = waitForExit(pid)
        guard status == 0 else {
            let errorLines = text.split(separator: "\n").filter { $0.contains("error") || $0.contains("FATAL") }
            var reason = errorLines.isEmpty ? text.suffixLines(5) : errorLines.suffix(5).joined(separator: "\n")
            if let user, reason.contains("Permission denied") {
                reason += " (the \(user.name) user runs the database and must be able to reach this folder; choose a STRATA_HOME it can enter)"
            }
            throw StrataError(
                .serverStartFailed,
                "\((program as NSString).lastPathComponent) exited with status \(status): \(reason)"
            )
        }
        return text
    }

    /// Starts `command` (arguments as an array) with `input` as its standard input, `output` as
    /// its standard output and `error` (default: `output`) as its standard error.
    /// - Parameter newSession: Start a session (and process group) of its own: a terminal's
    ///   Ctrl-C does not reach it, and `kill(-pid, …)` reaches all of it.
    /// - Parameter directory: The child's working folder (default: ours).
    public static func spawn(
        _ command: [String],
        environment: [String: String]?,
        input: Int32,
        output: Int32,
        error: Int32? = nil,
        newSession: Bool,
        directory: String? = nil
    ) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let directory {
            guard let addChangeDirectory, addChangeDirectory(&actions, directory) == 0 else {
                throw POSIXError(.ENOSYS)  // a C library older than glibc 2.29
            }
        }
        posix_spawn_file_actions_adddup2(&actions, input, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, error ?? output, 2)
        // Nothing else crosses over: a server started by Strata must not hold copies of
        // Strata's sockets (SwiftNIO's are not close-on-exec, so a peer would never see them
        // close) or of other children's pipes.
        closeInheritedDescriptors(&actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD, SIGPIPE, SIGALRM, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        let setSession: Int32 = 0x80  // POSIX_SPAWN_SETSID (glibc ≥ 2.26)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if newSession { flags |= setSession }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let environmentStrings = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let status = withCStrings(command) { argv in
            withCStrings(environmentStrings) { envp in
                posix_spawn(&pid, command[0], &actions, &attributes, argv, envp)
            }
        }
        guard status == 0 else { throw POSIXError(POSIXErrorCode(rawValue: status) ?? .EIO) }
        return pid
    }

    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34+), which the Glibc module does
    /// not export: looked up once at run time.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// `posix_spawn_file_actions_addchdir_np` (glibc 2.29+), looked up as ``addCloseFrom`` is.
    private static let addChangeDirectory: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32)? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32).self)
    }()

    /// Adds actions that close every descriptor from 3 up in the child.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        if let addCloseFrom, addCloseFrom(&actions, 3) == 0 { return }
        // Older C libraries: close what is open now.
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap { Int32($0) } ?? []
        for descriptor in open where descriptor > 2 { posix_spawn_file_actions_addclose(&actions, descriptor) }
    }

    /// Waits for a child and returns its exit code (128 + signal when killed by a signal).
    public static func waitForExit(_ pid: Int32) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return exitCode(status)
    }

    /// Waits up to `limit` for a child to exit without holding a thread: its exit code (as
    /// ``waitForExit(_:)``), or nil when it still runs at the limit or the wait is cancelled.
    public static func exitCode(of pid: Int32, within limit: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + limit
        while true {
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return exitCode(status) }
            if result < 0 && errno != EINTR { return nil }
            guard ContinuousClock.now < deadline, (try? await Task.sleep(for: .milliseconds(20))) != nil else { return nil }
        }
    }

    /// Decodes a `waitpid` status: the exit code, or 128 + the signal number.
    static func exitCode(_ status: Int32) -> Int32 {
        status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }
}

/// Calls `body` with a NULL-terminated C array of the strings.
private func withCStrings<T>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> T) -> T {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return body(pointers)
}

extension String {
    /// The last `count` lines, for error messages quoting a log.
    public func suffixLines(_ count: Int) -> String {
        split(separator: "\n", omittingEmptySubsequences: true).suffix(count).joined(separator: "\n")
    }
}

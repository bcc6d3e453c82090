import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs a server under a shell that stops it when our end of a pipe closes.
///
/// The shell starts the command in the background and blocks reading its standard input,
/// a pipe whose only writer is this process. ``release()`` closes the pipe; so does the
/// kernel when this process dies for any reason. The shell then sends `SIGINT`
/// (PostgreSQL's fast shutdown), waits for the server to exit and, when asked, deletes a
/// throw-away folder.
///
/// The shell is spawned directly with `posix_spawn`: in a session of its own (a terminal's
/// Ctrl-C reaches Strata, which decides the order of shutdown), with an empty signal mask
/// and default signal handlers (threads of this process block signals such as `SIGCHLD`,
/// which a child would otherwise inherit and then never see its server exit), and with the
/// pipe's write end close-on-exec so that no other child holds it open. The command is
/// passed as positional arguments (`"$@"`), never spliced into the script.
final class Lifeline: @unchecked Sendable {
    // Mutable state is guarded by `lock`.
    private let lock = NSLock()
    private var writeDescriptor: Int32
    private var exited = false
    /// The shell's process id.
    let pid: pid_t

    static let script = """
        "$@" </dev/null &
        server=$!
        read -r _ignored || true
        kill -INT "$server" 2>/dev/null
        wait "$server"
        if [ -n "${STRATA_LIFELINE_REMOVE:-}" ]; then rm -rf -- "$STRATA_LIFELINE_REMOVE"; fi
        """

    /// Starts `command` under the lifeline, its output appended to `logFile`.
    /// - Parameter removeWhenStopped: A folder the shell deletes after the server exits.
    init(command: [String], logFile: String, removeWhenStopped: String? = nil) throws {
        let logDescriptor = open(logFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard logDescriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        defer { close(logDescriptor) }
        var pipeDescriptors: [Int32] = [0, 0]
        guard pipe(&pipeDescriptors) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        let (readEnd, writeEnd) = (pipeDescriptors[0], pipeDescriptors[1])
        // Neither end may leak into other children (dup2 clears the flag on the shell's stdin).
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)
        defer { close(readEnd) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, readEnd, 0)
        posix_spawn_file_actions_adddup2(&actions, logDescriptor, 1)
        posix_spawn_file_actions_adddup2(&actions, logDescriptor, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD, SIGPIPE, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        let setSession: Int32 = 0x80  // POSIX_SPAWN_SETSID (glibc ≥ 2.26)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | setSession))

        let arguments = ["/bin/sh", "-c", Self.script, "strata-lifeline"] + command
        var environment = ProcessInfo.processInfo.environment
        environment["STRATA_LIFELINE_REMOVE"] = removeWhenStopped
        let environmentStrings = environment.map { "\($0.key)=\($0.value)" }

        var spawned: pid_t = 0
        let status = withCStrings(arguments) { argv in
            withCStrings(environmentStrings) { envp in
                posix_spawn(&spawned, "/bin/sh", &actions, &attributes, argv, envp)
            }
        }
        guard status == 0 else {
            close(writeEnd)
            throw POSIXError(.init(rawValue: status) ?? .EIO)
        }
        pid = spawned
        writeDescriptor = writeEnd
    }

    /// Whether the shell (and so the server) is still running. Reaps it once it has exited.
    var isRunning: Bool {
        lock.withLock {
            guard !exited else { return false }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid || (result < 0 && errno == ECHILD) { exited = true }
            return !exited
        }
    }

    /// Closes the pipe: the shell stops the server and exits.
    func release() {
        lock.withLock {
            if writeDescriptor >= 0 {
                close(writeDescriptor)
                writeDescriptor = -1
            }
        }
    }

    /// Kills the shell outright (after a failed fast shutdown).
    func terminate() {
        lock.withLock { _ = kill(pid, SIGKILL) }
    }
}

/// Calls `body` with a NULL-terminated C array of the strings.
private func withCStrings<T>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> T) -> T {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return body(pointers)
}

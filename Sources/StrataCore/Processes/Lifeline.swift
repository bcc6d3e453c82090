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
/// The shell is spawned by ``ChildProcess/spawn(_:environment:input:output:newSession:)``
/// in a session of its own (a terminal's Ctrl-C reaches Strata, which decides the order of
/// shutdown), with a clean signal mask, and with the pipe's write end close-on-exec so that no
/// other child holds it open. The command is
/// passed as positional arguments (`"$@"`), never spliced into the script.
public final class Lifeline: @unchecked Sendable {
    // Mutable state is guarded by `lock`.
    private let lock = NSLock()
    private var writeDescriptor: Int32
    private var exited = false
    /// The shell's process id.
    public let pid: Int32

    static let script = """
        "$@" </dev/null &
        server=$!
        read -r _ignored || true
        kill -INT "$server" 2>/dev/null
        wait "$server"
        if [ -n "${STRATA_LIFELINE_REMOVE:-}" ]; then rm -rf -- "$STRATA_LIFELINE_REMOVE"; fi
        """

    /// Starts `command` under the lifeline, its output appended to `logFile`.
    /// - Parameters:
    ///   - environment: Variables set for the server on top of this process's environment.
    ///   - removeWhenStopped: A folder the shell deletes after the server exits.
    public init(command: [String], logFile: String, environment extra: [String: String] = [:], removeWhenStopped: String? = nil) throws {
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

        let arguments = ["/bin/sh", "-c", Self.script, "strata-lifeline"] + command
        var environment = ProcessInfo.processInfo.environment.merging(extra) { _, given in given }
        environment["STRATA_LIFELINE_REMOVE"] = removeWhenStopped
        let spawned: pid_t
        do {
            spawned = try ChildProcess.spawn(arguments, environment: environment, input: readEnd, output: logDescriptor, newSession: true)
        } catch {
            close(writeEnd)
            throw error
        }
        pid = spawned
        writeDescriptor = writeEnd
    }

    /// Whether the shell (and so the server) is still running. Reaps it once it has exited.
    public var isRunning: Bool {
        lock.withLock {
            guard !exited else { return false }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid || (result < 0 && errno == ECHILD) { exited = true }
            return !exited
        }
    }

    /// Whether the command the shell started has exited. The shell outlives it (it blocks on
    /// the pipe), keeping it as a zombie until the pipe closes; `false` while it runs or before
    /// the shell has started it.
    public var commandHasExited: Bool {
        guard isRunning else { return true }
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8) else { return false }
        let children = text.split(separator: " ").compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return !children.isEmpty && !children.contains(where: Self.isAlive)
    }

    /// Whether `pid` is a live process: not gone, not a zombie waiting to be reaped.
    public static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state != "Z" && state != "X"
    }

    /// Closes the pipe: the shell stops the server and exits.
    public func release() {
        lock.withLock {
            if writeDescriptor >= 0 {
                close(writeDescriptor)
                writeDescriptor = -1
            }
        }
    }

    /// Closes the pipe and waits for the shell (and so the server) to exit.
    /// - Returns: Whether it exited within `timeout`; if not, the caller escalates.
    public func stop(within timeout: Duration) async -> Bool {
        release()
        let deadline = ContinuousClock.now + timeout
        while isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return !isRunning
    }

    /// Kills the shell outright (after a failed fast shutdown).
    public func terminate() {
        lock.withLock { _ = kill(pid, SIGKILL) }
    }
}

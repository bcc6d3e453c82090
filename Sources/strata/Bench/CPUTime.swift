import Foundation

/// CPU time used so far by the two sides of a workload, read before and after it so that a
/// benchmark can say what one operation cost the client and what it cost PostgreSQL.
///
/// - `client`: this process (`getrusage(RUSAGE_SELF)`).
/// - `children`: this process's children that have ended and been waited for, such as
///   pgbench or a Python peer (`getrusage(RUSAGE_CHILDREN)`).
/// - `server`: the embedded PostgreSQL, when this process started it: the postmaster and its
///   running processes (`/proc/<pid>/schedstat`, nanoseconds), plus the processes of it that
///   have ended (`cutime + cstime` of `/proc/<postmaster>/stat`, clock ticks). Nil for any
///   other server, whose processes this one cannot see.
struct CPUTime: Sendable {
    var client: Double
    var children: Double
    var server: Double?

    static func now(serverPID: Int32?) -> CPUTime {
        CPUTime(
            client: usage(RUSAGE_SELF.rawValue),
            children: usage(RUSAGE_CHILDREN.rawValue),
            server: serverPID.flatMap(serverSeconds)
        )
    }

    /// Microseconds of CPU per operation on each side between two readings.
    static func perOperation(from start: CPUTime, to end: CPUTime, operations: Int) -> (client: Double, children: Double, server: Double?) {
        let scale = 1_000_000 / Double(max(1, operations))
        return (
            (end.client - start.client) * scale,
            (end.children - start.children) * scale,
            end.server.flatMap { end in start.server.map { (end - $0) * scale } }
        )
    }

    private static func usage(_ who: Int32) -> Double {
        var usage = rusage()
        guard getrusage(who, &usage) == 0 else { return 0 }
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1_000_000 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// How many processes the postmaster has (running, or ended and not yet reaped).
    static func serverProcesses(postmaster: Int32) -> Int {
        childPIDs(of: postmaster).count
    }

    /// Waits (up to `limit`) until the postmaster is down to `count` processes, so that the
    /// backends of clients that just left have ended and been reaped: a backend that has exited
    /// but is not yet reaped is in neither the running nor the ended figure.
    static func settle(postmaster: Int32?, to count: Int, limit: Duration = .seconds(3)) async {
        guard let postmaster else { return }
        let deadline = ContinuousClock.now + limit
        while serverProcesses(postmaster: postmaster) > count, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    private static func childPIDs(of parent: Int32) -> [Int32] {
        let processes = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return processes.compactMap { name in
            guard let pid = Int32(name), pid != parent, let fields = statFields(pid), fields.count > 1, Int32(fields[1]) == parent
            else { return nil }
            return pid
        }
    }

    /// The postmaster's CPU, its running children's and its ended children's, in seconds.
    private static func serverSeconds(postmaster: Int32) -> Double? {
        guard let fields = statFields(postmaster), fields.count > 14 else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        // Fields after the command name: index 0 is field 3 (state); cutime and cstime are 16 and 17.
        let ended = ((Double(fields[13]) ?? 0) + (Double(fields[14]) ?? 0)) / ticks
        let running = childPIDs(of: postmaster).reduce(onCPU(postmaster) ?? 0) { $0 + (onCPU($1) ?? 0) }
        return ended + running
    }

    /// The fields of `/proc/<pid>/stat` after the parenthesised command name.
    private static func statFields(_ pid: Int32) -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    /// Seconds the process has run on a CPU, from the first field of `/proc/<pid>/schedstat`.
    private static func onCPU(_ pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/schedstat", encoding: .utf8),
            let first = text.split(separator: " ").first, let nanoseconds = Double(first)
        else { return nil }
        return nanoseconds / 1_000_000_000
    }
}

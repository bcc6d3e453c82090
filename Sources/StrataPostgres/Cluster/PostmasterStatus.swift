import Foundation

/// What a running PostgreSQL server says of itself in its data folder's `postmaster.pid`: its
/// process, port, socket folder and state. The one reader of that file.
public struct PostmasterStatus: Sendable, Equatable {
    public var pid: Int32
    public var port: Int?
    /// The first Unix socket folder (nil: none, loopback TCP only).
    public var socketDirectory: String?
    /// `starting`, `stopping`, `ready` or `standby` (empty while the server writes the file).
    public var state: String

    public init(pid: Int32, port: Int?, socketDirectory: String?, state: String) {
        self.pid = pid
        self.port = port
        self.socketDirectory = socketDirectory
        self.state = state
    }

    /// Reads `<dataDirectory>/postmaster.pid`; nil when there is none or it is unreadable.
    public init?(dataDirectory: String) {
        guard let contents = try? String(contentsOfFile: "\(dataDirectory)/postmaster.pid", encoding: .utf8) else { return nil }
        self.init(contents: contents)
    }

    init?(contents: String) {
        let lines = contents.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let pid = lines.first.flatMap({ Int32($0) }) else { return nil }
        self.pid = pid
        self.port = lines.count > 3 ? Int(lines[3]) : nil
        self.socketDirectory = lines.count > 4 && !lines[4].isEmpty ? lines[4] : nil
        self.state = lines.count > 7 ? lines[7] : ""
    }

    /// Accepting connections: started, or recovered and promoted (a server without hot
    /// standby says so only once promoted).
    public var isReady: Bool { state == "ready" }
}

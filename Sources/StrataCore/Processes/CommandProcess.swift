import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An operator's command, running (a simjobs task's, a workflow execution's): its command line
/// as an array of words, never a shell; its input as JSON on standard input; its standard output
/// and error read line by line. It runs in a process group of its own so that stopping it stops
/// whatever it started.
public final class CommandProcess: Sendable {
    /// Which stream a line came from.
    public enum Stream: Sendable { case output, error }

    /// One line the command wrote.
    public struct Line: Sendable {
        public var stream: Stream
        public var text: String
    }

    public let pid: Int32
    /// The lines, as they come; finishes when both streams are closed.
    public let lines: AsyncStream<Line>
    private let exit: Task<Int32, Never>

    /// The longest line kept (longer ones are cut).
    public static let maximumLineLength = 10_000

    private init(pid: Int32, lines: AsyncStream<Line>, exit: Task<Int32, Never>) {
        self.pid = pid
        self.lines = lines
        self.exit = exit
    }

    /// Starts `command` with `input` on its standard input.
    /// - Throws: `invalid_configuration` when the program cannot be started.
    public static func start(_ command: [String], input: String, environment: [String: String]? = nil) throws -> CommandProcess {
        var inputPipe: [Int32] = [0, 0]
        var outputPipe: [Int32] = [0, 0]
        var errorPipe: [Int32] = [0, 0]
        guard pipe(&inputPipe) == 0 else { throw StrataError(.internalError, "pipe() failed: \(errno)") }
        guard pipe(&outputPipe) == 0 else {
            close(inputPipe[0])
            close(inputPipe[1])
            throw StrataError(.internalError, "pipe() failed: \(errno)")
        }
        guard pipe(&errorPipe) == 0 else {
            for descriptor in inputPipe + outputPipe { close(descriptor) }
            throw StrataError(.internalError, "pipe() failed: \(errno)")
        }
        let pid: Int32
        do {
            pid = try ChildProcess.spawn(
                command,
                environment: environment,
                input: inputPipe[0],
                output: outputPipe[1],
                error: errorPipe[1],
                newSession: true
            )
        } catch {
            for descriptor in inputPipe + outputPipe + errorPipe { close(descriptor) }
            throw StrataError(.invalidConfiguration, "The command \(command[0]) could not be started: \(error).")
        }
        close(inputPipe[0])
        close(outputPipe[1])
        close(errorPipe[1])

        let writer = inputPipe[1]
        ChildProcess.onOwnThread {
            let bytes = Array(input.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { write(writer, $0.baseAddress, $0.count) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { break }  // the command closed its input: fine
                offset += written
            }
            close(writer)
        }

        let (lines, continuation) = AsyncStream.makeStream(of: Line.self, bufferingPolicy: .bufferingNewest(100_000))
        let open = Mutex(2)
        for (descriptor, stream) in [(outputPipe[0], Stream.output), (errorPipe[0], Stream.error)] {
            ChildProcess.onOwnThread {
                readLines(from: descriptor) { continuation.yield(Line(stream: stream, text: $0)) }
                close(descriptor)
                if open.withLock({ count in
                    count -= 1
                    return count == 0
                }) {
                    continuation.finish()
                }
            }
        }
        let exit = Task<Int32, Never> {
            await withCheckedContinuation { (done: CheckedContinuation<Int32, Never>) in
                ChildProcess.onOwnThread { done.resume(returning: ChildProcess.waitForExit(pid)) }
            }
        }
        return CommandProcess(pid: pid, lines: lines, exit: exit)
    }

    /// Waits for the command to end: its exit code, or 128 + the signal that ended it.
    public func exitCode() async -> Int32 { await exit.value }

    /// Sends `signal` to the command's process group.
    public func signal(_ signal: Int32) {
        kill(-pid, signal)
    }

    /// Reads `descriptor` to its end, calling `line` for every line (without its newline).
    private static func readLines(from descriptor: Int32, _ line: (String) -> Void) {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        func emit(_ bytes: ArraySlice<UInt8>) {
            var bytes = bytes
            if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
            line(String(decoding: bytes.prefix(maximumLineLength), as: UTF8.self))
        }
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            pending += buffer[0..<count]
            var start = pending.startIndex
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                emit(pending[start..<newline])
                start = newline + 1
            }
            pending.removeSubrange(pending.startIndex..<start)
            if pending.count > maximumLineLength * 4 {  // no newline in sight: cut here
                emit(pending[...])
                pending.removeAll()
            }
        }
        if !pending.isEmpty { emit(pending[...]) }
    }
}

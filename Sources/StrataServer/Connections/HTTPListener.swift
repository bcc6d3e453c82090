import Logging
import NIOCore
import Synchronization

/// The HTTP server's listening socket, kept so that a graceful shutdown can empty its accept
/// queue before it closes.
///
/// Closing a listening socket resets every connection the kernel has completed for it but the
/// server has not accepted yet: their clients saw `connect()` succeed and then lose the
/// connection. So the shutdown first attaches a socket filter that drops new `SYN`s (a client
/// then retries and, once the socket is closed, is refused at connect), lets the handshakes
/// already answered complete and be accepted (``settle``), and only then closes the socket.
public final class HTTPListener: Sendable {
    private let channel = Mutex<(any Channel)?>(nil)
    /// How long the handshakes under way get to complete once new ones are refused.
    let settle: Duration

    public init(settle: Duration = .milliseconds(200)) {
        self.settle = settle
    }

    /// Records the server's listening channel (from `onServerRunning`).
    func opened(_ channel: any Channel) {
        self.channel.withLock { $0 = channel }
    }

    /// Stops new connections from being completed, then waits for the ones under way to be
    /// accepted. Logs and goes on when the socket refuses the filter: the close then resets
    /// whatever is left in the queue, as it would without this step.
    func refuseNewConnections(logger: Logger) async {
        guard let channel = channel.withLock({ $0 }) else { return }
        guard let provider = channel as? any SocketOptionProvider else { return }
        do {
            try await SynFilter.attach(to: provider)
        } catch {
            logger.warning("could not stop new connections before closing the listener", metadata: ["strata.error": "\(error)"])
            return
        }
        try? await Task.sleep(for: settle)
    }
}

/// A classic BPF socket filter that drops TCP segments with `SYN` set and `ACK` clear (new
/// connection requests) and passes everything else, so that handshakes already answered
/// complete. On a TCP socket the filter sees the segment from its TCP header on; the flags are
/// byte 13.
enum SynFilter {
    /// `struct sock_filter` of `<linux/filter.h>`.
    struct Instruction {
        var code: UInt16
        var jumpIfTrue: UInt8
        var jumpIfFalse: UInt8
        var operand: UInt32
    }

    /// `struct sock_fprog`: the kernel copies the instructions during `setsockopt`.
    struct Program: @unchecked Sendable {
        var length: UInt16
        var instructions: UnsafeMutablePointer<Instruction>
    }

    static let instructions: [Instruction] = [
        .init(code: 0x30, jumpIfTrue: 0, jumpIfFalse: 0, operand: 13),  // ldb [13]: the flags
        .init(code: 0x54, jumpIfTrue: 0, jumpIfFalse: 0, operand: 0x12),  // and #(SYN|ACK)
        .init(code: 0x15, jumpIfTrue: 0, jumpIfFalse: 1, operand: 0x02),  // jeq #SYN
        .init(code: 0x06, jumpIfTrue: 0, jumpIfFalse: 0, operand: 0),  // ret #0: drop
        .init(code: 0x06, jumpIfTrue: 0, jumpIfFalse: 0, operand: UInt32.max),  // ret: keep it whole
    ]

    /// `SO_ATTACH_FILTER` on Linux (asm-generic/socket.h).
    static let attachFilterOption: Int32 = 26

    static func attach(to socket: any SocketOptionProvider) async throws {
        let buffer = UnsafeMutablePointer<Instruction>.allocate(capacity: instructions.count)
        buffer.initialize(from: instructions, count: instructions.count)
        defer { buffer.deallocate() }
        let program = Program(length: UInt16(instructions.count), instructions: buffer)
        try await socket.unsafeSetSocketOption(
            level: SocketOptionLevel(1),  // SOL_SOCKET
            name: SocketOptionName(attachFilterOption),
            value: program
        ).get()
    }
}

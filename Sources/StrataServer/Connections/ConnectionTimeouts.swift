/// Why the server closed a connection, as `/metrics` counts it
/// (`strata_http_connections_closed_total{reason}`).
public enum ConnectionCloseReason: String, Sendable, CaseIterable {
    /// The request's head was not complete in time (or a new connection stayed silent).
    case headerTimeout = "header_timeout"
    /// The client paused too long inside a request body.
    case bodyTimeout = "body_timeout"
    /// An idle keep-alive connection reached its time.
    case keepAliveTimeout = "keepalive_timeout"
    /// Accepted beyond `HTTP_MAX_CONNECTIONS` and closed at once.
    case overLimit = "over_limit"
    /// Closed by a graceful shutdown: idle, or after its last response.
    case shutdown
}

/// The timeouts of one HTTP connection as a pure state machine: events in, deadlines and
/// actions out, no I/O inside (the channel handler does the I/O).
///
/// A connection is in one of these phases, each with its own deadline:
/// - waiting for its first request: ``HTTPConnectionPolicy/headerTimeout`` from the start;
/// - receiving a head (bytes arrived, head not complete): the header timeout from the first byte;
/// - receiving a body: ``HTTPConnectionPolicy/bodyTimeout`` from the last body part;
/// - answering (every request read, a response not finished): no deadline, the handler's own;
/// - idle after a response: ``HTTPConnectionPolicy/keepAliveTimeout`` from the response's end.
///
/// When the server drains, an idle connection closes at once, one that is answering closes
/// after its response (which says `Connection: close`), and one accepted but still silent gets
/// ``HTTPConnectionPolicy/drainAllowance`` to send its request.
struct ConnectionTimeouts<Instant: InstantProtocol<Duration>> {
    let policy: HTTPConnectionPolicy

    private(set) var deadline: Instant?
    /// Requests whose head arrived and whose response has not ended.
    private var requestsOpen = 0
    private var readingBody = false
    private var headStartedAt: Instant?
    private var lastActivity: Instant
    private var servedAny = false
    private var isDraining = false
    private var responseStarted = false
    private var closed = false

    init(policy: HTTPConnectionPolicy, now: Instant) {
        self.policy = policy
        self.lastActivity = now
        self.deadline = now.advanced(by: policy.headerTimeout)
    }

    /// What a timer firing at `now` does.
    enum TimerAction: Equatable {
        /// Not due yet (or no deadline): wait until the new deadline.
        case wait
        /// Answer `408 Request Timeout` (`Connection: close`), then close.
        case answerTimeoutAndClose(ConnectionCloseReason)
        /// Close without an answer (nothing was asked, or an answer is already under way).
        case close(ConnectionCloseReason)
    }

    /// Bytes arrived from the client (before HTTP parsing).
    mutating func bytesReceived(now: Instant) {
        guard !readingBody, headStartedAt == nil else { return }
        headStartedAt = now
        recompute()
    }

    /// A request's head was parsed.
    mutating func headReceived(now: Instant) {
        requestsOpen += 1
        readingBody = true
        headStartedAt = nil
        lastActivity = now
        recompute()
    }

    /// A part of a request body arrived.
    mutating func bodyReceived(now: Instant) {
        lastActivity = now
        recompute()
    }

    /// The request's end arrived.
    mutating func endReceived(now: Instant) {
        readingBody = false
        lastActivity = now
        recompute()
    }

    /// What a response head being written does.
    enum ResponseHeadAction: Equatable {
        case write
        /// Write it with `Connection: close`: it is the connection's last.
        case writeClosing
    }

    mutating func responseHeadWritten() -> ResponseHeadAction {
        responseStarted = true
        return isDraining ? .writeClosing : .write
    }

    /// What a response's end being written does.
    enum ResponseEndAction: Equatable {
        case write
        /// Write it, flush, and close: the server is draining.
        case writeAndClose
    }

    mutating func responseEnded(now: Instant) -> ResponseEndAction {
        requestsOpen = max(0, requestsOpen - 1)
        responseStarted = false
        servedAny = true
        lastActivity = now
        if isDraining && requestsOpen == 0 {
            closed = true
            return .writeAndClose
        }
        recompute()
        return .write
    }

    /// What the server's drain does to this connection.
    enum DrainAction: Equatable {
        /// Nothing in progress: close now.
        case close
        /// Let the request in progress (or about to arrive) finish.
        case finishRequest
    }

    mutating func drain(now: Instant) -> DrainAction {
        isDraining = true
        if requestsOpen == 0 && headStartedAt == nil && servedAny {
            closed = true
            return .close
        }
        if requestsOpen == 0 && headStartedAt == nil {
            // Accepted, request not here yet: it may be on its way from the accept queue.
            let allowance = now.advanced(by: min(policy.drainAllowance, policy.headerTimeout))
            deadline = deadline.map { min($0, allowance) } ?? allowance
        }
        return .finishRequest
    }

    /// The timer fired at `now`.
    mutating func timerFired(now: Instant) -> TimerAction {
        guard !closed, let deadline else { return .wait }
        guard now >= deadline else { return .wait }
        closed = true
        if readingBody {
            return responseStarted ? .close(.bodyTimeout) : .answerTimeoutAndClose(.bodyTimeout)
        }
        if headStartedAt != nil && requestsOpen == 0 { return .answerTimeoutAndClose(.headerTimeout) }
        if isDraining { return .close(.shutdown) }
        return .close(servedAny ? .keepAliveTimeout : .headerTimeout)
    }

    private mutating func recompute() {
        if readingBody {
            deadline = lastActivity.advanced(by: policy.bodyTimeout)
        } else if requestsOpen > 0 {
            deadline = nil
        } else if let headStartedAt {
            deadline = headStartedAt.advanced(by: policy.headerTimeout)
        } else if servedAny {
            deadline = lastActivity.advanced(by: isDraining ? .zero : policy.keepAliveTimeout)
        }
    }
}

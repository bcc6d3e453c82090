public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes an executable `/bin/sh` script that tests run as an operator's command (a task's, an
/// execution's).
/// - Parameters:
///   - body: The script after its `#!/bin/sh` line.
///   - directory: Where to write it (default: the temporary folder).
/// - Returns: Its path.
public func writeTaskScript(_ body: String, in directory: String = NSTemporaryDirectory()) throws -> String {
    let path = directory + "/simjobs-task-\(UUID().uuidString.prefix(8)).sh"
    try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    chmod(path, 0o755)
    return path
}

import Foundation

/// Executables built beside the test bundle (`swift build --build-tests` builds them too).
public enum BuiltProducts {
    /// The path of the executable product `name` (`strata`); the expected path even when it is
    /// missing, so that a test can say so.
    public static func path(_ name: String) -> String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundle, bundle.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return bundle.appendingPathComponent(name).path
    }
}

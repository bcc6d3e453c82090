import ArgumentParser
import StrataServer

/// `strata serve`: the HTTP server, after migrating.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server (migrates first; embedded PostgreSQL unless DATABASE_URL is set)."
    )

    @OptionGroup var options: GlobalOptions

    @Option(help: "Listen address (HOST, default 127.0.0.1).")
    var host: String?

    @Option(help: "Listen port (PORT, default 8080; 0 = any free port).")
    var port: String?

    func run() async throws {
        try await Strata.guarded {
            let (configuration, logger) = try options.configuration(extra: ["HOST": host, "PORT": port])
            try await StrataServer.serve(configuration: configuration, logger: logger)
        }
    }
}

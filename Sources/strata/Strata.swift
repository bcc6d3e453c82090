import ArgumentParser
import Foundation
import StrataCore
import StrataPostgres

/// The `strata` command.

struct Strata: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strata",
        abstract: "Strata: a PostgreSQL-first data platform for business back ends.",
        discussion: """
            Configuration comes from the environment (DATABASE_URL, STRATA_HOME, HOST, PORT, LOG_LEVEL, \
            LOG_FORMAT, DB_POOL_SIZE, DB_MAX_OVERFLOW, DB_POOL_TIMEOUT, DB_POOL_RECYCLE, DB_ECHO, …); \
            flags override it. Without DATABASE_URL, Strata runs its own PostgreSQL under $STRATA_HOME/postgres.
            """,
        subcommands: [
            Serve.self, Worker.self, WorkflowsCommand.self, Migrate.self, Database.self, Keys.self, Partitions.self, Events.self, Seed.self,
            Backup.self,
            Bench.self,
        ]
    )

    /// Runs a command body, turning every error into one line on stderr and a non-zero exit.
    static func guarded(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as StrataError {
            FileHandle.standardError.write(Data("strata: \(error.message)\n".utf8))
            throw ExitCode(error.code.kind == .configuration ? 78 : 1)
        } catch let error as ExitCode {
            throw error
        } catch let error as CleanExit {
            throw error
        } catch {
            FileHandle.standardError.write(Data("strata: \(StrataError.fromPostgres(error).message)\n".utf8))
            throw ExitCode.failure
        }
    }
}

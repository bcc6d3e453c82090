public import PostgresNIO
public import StrataCore

/// The one place where PostgreSQL errors become ``StrataError``s.
///
/// SQLSTATE classes map to stable codes; the client-facing message is written here and never
/// contains bound values (the server's own message and detail can echo input, e.g.
/// `invalid input syntax for type uuid: "…"`, so they stay in ``StrataError/underlying``).
/// The constraint, table and column names, which come from code, are kept as details.
extension StrataError {
    /// Maps any error raised while talking to PostgreSQL.
    ///
    /// `StrataError`s pass through unchanged; `PSQLError`s are classified by SQLSTATE or
    /// connection state; anything else becomes `database_error`.
    public static func fromPostgres(_ error: any Error, file: String = #fileID, line: Int = #line) -> StrataError {
        if let error = error as? StrataError { return error }
        guard let error = error as? PSQLError else {
            if error is CancellationError { return StrataError(.databaseUnavailable, "The database call was cancelled.", underlying: error) }
            return StrataError(.databaseError, "The database call failed.", underlying: error, file: file, line: line)
        }
        guard error.code == .server, let sqlState = error.serverInfo?[.sqlState] else {
            return fromClientSide(error, file: file, line: line)
        }
        var details: [String: String] = ["sqlstate": sqlState]
        if let constraint = error.serverInfo?[.constraintName] { details["constraint"] = constraint }
        if let table = error.serverInfo?[.tableName] { details["table"] = table }
        if let column = error.serverInfo?[.columnName] { details["column"] = column }
        let constraintText = details["constraint"].map { " (\($0))" } ?? ""

        let (code, message): (StrataError.Code, String)
        switch sqlState {
        case "23505", "23P01":
            (code, message) = (.conflict, "The change conflicts with existing data\(constraintText).")
        case "23503":
            (code, message) = (
                .invalidReference, "The change refers to something that does not exist, or removes something still referred to\(constraintText)."
            )
        case "23514":
            (code, message) = (.invalidValue, "A value is outside what is allowed\(constraintText).")
        case "23502":
            (code, message) = (.missingValue, "A required value is missing\(details["column"].map { " (\($0))" } ?? "").")
        case "40001", "40P01", "55P03":
            (code, message) = (.concurrentUpdate, "The change collided with a concurrent change; retry it.")
        case "57014":
            (code, message) = (.statementTimeout, "The database statement took too long and was cancelled.")
        case "53300":
            (code, message) = (.databaseBusy, "The database has no free connections; retry shortly.")
        case "57P01", "57P02", "57P03":
            (code, message) = (.databaseUnavailable, "The database is shutting down or starting; retry shortly.")
        case _ where sqlState.hasPrefix("08"):
            (code, message) = (.databaseUnavailable, "The connection to the database failed; retry shortly.")
        case "42501":
            // A row-level security policy's WITH CHECK (a row written outside the caller's
            // scope), or a privilege the scoped role lacks.
            (code, message) = (.forbidden, "This is outside what you may change.")
        case "42P01", "3F000":
            (code, message) = (.notReady, "A table or schema this needs does not exist; apply the migrations (`strata migrate up`).")
        case _ where sqlState.hasPrefix("22"):
            (code, message) = (.invalidValue, "A value has the wrong format or is out of range.")
        default:
            (code, message) = (.databaseError, "The database rejected the statement (SQLSTATE \(sqlState)).")
        }
        return StrataError(code, message, details: details, underlying: error, file: file, line: line)
    }

    private static func fromClientSide(_ error: PSQLError, file: String, line: Int) -> StrataError {
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
            .sslUnsupported, .failedToAddSSLHandler:
            return StrataError(.databaseUnavailable, "The database cannot be reached; retry shortly.", underlying: error, file: file, line: line)
        case .queryCancelled:
            return StrataError(.statementTimeout, "The database statement was cancelled.", underlying: error, file: file, line: line)
        case .tooManyParameters:
            return StrataError(.invalidValue, "The statement has too many parameters.", underlying: error, file: file, line: line)
        default:
            return StrataError(.databaseError, "The database call failed (\(error.code)).", underlying: error, file: file, line: line)
        }
    }
}

extension PSQLError {
    /// The server's own message (`ERROR: …`), for operator-facing output such as migration
    /// failures. May echo values: never send it to clients.
    public var serverMessage: String? {
        guard let message = serverInfo?[.message] else { return nil }
        if let position = serverInfo?[.position] { return "\(message) (at character \(position))" }
        return message
    }
}

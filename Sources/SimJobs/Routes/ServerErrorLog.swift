import Hummingbird
import StrataCore
import StrataHTTP

/// Records every simjobs request that failed on the server's side (a 5xx answer) in
/// `simjobs.system_logs` (source `api`, with the request id), so the task server's own log shows
/// them beside its alerts and rescues. Client mistakes (4xx) are not recorded.
struct ServerErrorLog: RouterMiddleware {
    typealias Context = StrataRequestContext

    let systemLog: SystemLog

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            let failure = StrataError.fromHTTP(error, routeMatched: context.endpointPath != nil)
            if failure.httpStatus.code >= 500 { await record(request, context, status: Int(failure.httpStatus.code), code: failure.code.rawValue) }
            throw error
        }
        if response.status.code >= 500 { await record(request, context, status: response.status.code, code: nil) }
        return response
    }

    private func record(_ request: Request, _ context: Context, status: Int, code: String?) async {
        var extra: [String: JSONValue] = ["method": .string(request.method.rawValue), "status": .number(Double(status))]
        if let route = context.endpointPath { extra["route"] = .string(route) }
        if let code { extra["code"] = .string(code) }
        await systemLog.record(
            "ERROR",
            .api,
            "\(request.method.rawValue) \(context.endpointPath ?? request.uri.path) answered \(status)\(code.map { " (\($0))" } ?? "").",
            loggerName: "simjobs.api",
            requestID: context.requestID.isEmpty ? nil : context.requestID,
            extra: .object(extra)
        )
    }
}

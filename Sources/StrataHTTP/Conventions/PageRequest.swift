public import Hummingbird
public import StrataCore

/// `?limit=&cursor=` of a list route: the page size (default 50, at most 200) and where to
/// continue. Bad values are a validation failure listing each wrong parameter.
public struct PageRequest: Sendable, Equatable {
    public static let defaultLimit = 50
    public static let maximumLimit = 200

    public var limit: Int
    public var cursor: Cursor?

    public init(limit: Int = PageRequest.defaultLimit, cursor: Cursor? = nil) {
        self.limit = limit
        self.cursor = cursor
    }

    /// Reads `limit` and `cursor` from the request's query.
    /// - Throws: `validation_failed` naming `limit` and/or `cursor`.
    public init(from request: Request) throws {
        var query = QueryReader(request)
        self = query.page()
        try query.validate()
    }
}

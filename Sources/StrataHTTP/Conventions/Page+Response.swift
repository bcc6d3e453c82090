public import Hummingbird
public import StrataCore

/// List routes return a ``Page`` as `{"items": […], "next_cursor": "…" | null}`.
extension Page: ResponseGenerator, ResponseEncodable where Item: Encodable {}

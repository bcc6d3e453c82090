import StrataCore
import Testing

@Suite struct SecretRedactionTests {
    @Test(arguments: [
        ("password", true), ("new_password", true), ("accessToken", true), ("client-secret", true), ("Authorization", true),
        ("api_key", true), ("licenseKey", true), ("key", true), ("credentials", true),
        ("name", false), ("email", false), ("keyboard_layout", false), ("tokens_used_count", true),
    ])
    func secretFieldNames(name: String, secret: Bool) {
        #expect(SecretRedaction.isSecret(fieldName: name) == secret)
    }

    @Test func secretsAreRedactedAtAnyDepthAndEverythingElseIsKept() throws {
        let body = #"{"user":{"name":"ann","password":"hunter2","keys":[{"api_key":"k1"}]},"token":{"nested":"x"},"n":3}"#
        let redacted = try #require(SecretRedaction.redactedJSON(body))
        #expect(!redacted.contains("hunter2") && !redacted.contains("k1") && !redacted.contains("nested"))
        #expect(redacted == #"{"n":3,"token":"[REDACTED]","user":{"keys":[{"api_key":"[REDACTED]"}],"name":"ann","password":"[REDACTED]"}}"#)
    }

    @Test func nonJSONIsNotParsed() {
        #expect(SecretRedaction.redactedJSON("password=hunter2") == nil)
    }
}

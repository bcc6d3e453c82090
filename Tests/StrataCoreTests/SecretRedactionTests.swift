import Foundation
import StrataCore
import Testing

@Suite struct SecretRedactionTests {
    @Test(arguments: [
        ("password", true), ("new_password", true), ("accessToken", true), ("client-secret", true), ("Authorization", true),
        ("api_key", true), ("licenseKey", true), ("key", true), ("credentials", true),
        ("name", false), ("email", false), ("keyboard_layout", false), ("tokens_used_count", true),
        ("PASS-WORD", true), ("x_Private_Key_pem", true), ("passwor", false), ("ke", false), ("", false), ("monkey", true),
        ("api\u{212A}ey", true), ("café_secret", true), ("café", false),
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
    @Test func bodiesWithoutSecretsComeBackAsTheyWereAndInvalidOnesAreRefused() {
        for body in [
            #"{"name":"ann","steps":[1,-2.5,0,true,false,null,{"x":[]}],"note":"café ok"}"#, "[]", "  3 ", #""text""#,
            #"{"b": 1, "a": {"c": [ ]}}"#,
        ] {
            #expect(SecretRedaction.redactedJSON(body) == body, "\(body)")
        }
        for invalid in [
            "", "{", #"{"a":}"#, #"{"a":1,}"#, "[1,]", "01", "1.", "-", "tru", #"{"a" 1}"#, "\u{0}", "[1] 2", #"{"a":"x"#, "{'a':1}",
            "\"tab\there\"",
        ] {
            #expect(SecretRedaction.redactedJSON(invalid) == nil, "\(invalid.debugDescription)")
        }
        // Escapes, exponents and nesting deeper than the fast pass goes are judged by the parser.
        #expect(SecretRedaction.redactedJSON(#"{"pass\u0077ord":"x"}"#) == #"{"password":"[REDACTED]"}"#)
        #expect(SecretRedaction.redactedJSON(#"{"n":1e999999}"#) == nil, "no number jsonb could not hold")
        let nested = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(SecretRedaction.redactedJSON(nested) == nested)
        let tooDeep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(SecretRedaction.redactedJSON(tooDeep) == nil, "past the fast pass's depth the parser decides, and it refuses this")
        // A binary upload is not JSON.
        #expect(SecretRedaction.redactedJSON([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A] as [UInt8]) == nil)
    }
}

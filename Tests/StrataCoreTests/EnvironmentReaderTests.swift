import StrataCore
import Testing

@Suite struct EnvironmentReaderTests {
    @Test func unsetAndEmptyVariablesGiveTheDefault() throws {
        let reader = EnvironmentReader(["DB_POOL_SIZE": ""])
        #expect(try reader.int("DB_POOL_SIZE", default: 10, in: 1...100) == 10)
        #expect(try reader.bool("DB_ECHO", default: false) == false)
    }

    @Test(arguments: ["abc", "0", "1001", "1.5"])
    func badIntegerNamesTheVariableAndTheRange(value: String) {
        let reader = EnvironmentReader(["DB_POOL_SIZE": value])
        #expect {
            try reader.int("DB_POOL_SIZE", default: 10, in: 1...1000)
        } throws: { error in
            let error = error as? StrataError
            return error?.code == .invalidConfiguration && error?.message.contains("DB_POOL_SIZE") == true
                && error?.message.contains("1...1000") == true
        }
    }

    @Test(arguments: [("30", 30_000), ("250ms", 250), ("1.5s", 1500), ("2m", 120_000), ("1h", 3_600_000)])
    func durationsAcceptSecondsAndUnits(text: String, milliseconds: Int64) {
        #expect(EnvironmentReader.parseDuration(text) == .milliseconds(milliseconds))
    }

    @Test(arguments: ["", "-1", "abc", "5 parsecs", "nan"])
    func invalidDurationsAreRejected(text: String) {
        #expect(EnvironmentReader.parseDuration(text) == nil)
    }

    @Test func secretLookingValuesAreNotEchoed() {
        let reader = EnvironmentReader(["DATABASE_URL": "hunter2"])
        let error = reader.invalid("DATABASE_URL", "hunter2", allowed: "a URL")
        #expect(!error.message.contains("hunter2"))
        #expect(error.message.contains("DATABASE_URL"))
    }

    @Test func choicesListTheAllowedWords() throws {
        enum Format: String, CaseIterable { case text, json }
        let reader = EnvironmentReader(["LOG_FORMAT": "xml"])
        #expect {
            _ = try reader.choice("LOG_FORMAT", default: Format.text)
        } throws: { error in
            (error as? StrataError)?.message.contains("text, json") == true
        }
        #expect(try EnvironmentReader(["LOG_FORMAT": "JSON"]).choice("LOG_FORMAT", default: Format.text) == .json)
    }
}

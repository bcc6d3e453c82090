import StrataPostgres
import Testing

@Suite struct SQLScriptTests {
    @Test func splitsOnSemicolonsAndKeepsLineNumbers() {
        let script = SQLScript("CREATE TABLE a (x int);\n\nCREATE TABLE b (y int);\nSELECT 1")
        #expect(script.statements.map(\.sql) == ["CREATE TABLE a (x int)", "CREATE TABLE b (y int)", "SELECT 1"])
        #expect(script.statements.map(\.line) == [1, 3, 4])
    }

    @Test func semicolonsInsideQuotesCommentsAndDollarBodiesDoNotSplit() {
        let source = """
            -- a comment; with a semicolon
            INSERT INTO t VALUES ('a;b', 'it''s; fine', E'back\\';slash');
            /* block; /* nested; */ still comment; */
            CREATE FUNCTION f() RETURNS trigger AS $body$
            BEGIN NEW.updated_at := now(); RETURN NEW; END;
            $body$ LANGUAGE plpgsql;
            SELECT "weird;name" FROM t WHERE x = $1;
            DO $$ BEGIN PERFORM 1; END $$;
            """
        let statements = SQLScript(source).statements
        #expect(statements.count == 4)
        #expect(statements[0].sql.hasSuffix("E'back\\';slash')"))
        #expect(statements[1].sql.contains("RETURN NEW; END;"))
        #expect(statements[1].line == 4)
        #expect(statements[2].sql == "SELECT \"weird;name\" FROM t WHERE x = $1")
        #expect(statements[3].sql == "DO $$ BEGIN PERFORM 1; END $$")
    }

    @Test func commentOnlyAndEmptyStatementsAreDropped() {
        #expect(SQLScript("-- nothing\n;;\n/* still nothing */").statements.isEmpty)
    }
}

import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

/// Table checksums: rows hashed by type where every column type has a hash function, by text
/// form otherwise; unchanged when the rows are laid out anew, changed by any row added, lost,
/// changed or duplicated.
@Suite struct TableChecksumTests {
    func checksums(_ pool: PostgresPool, method: TableChecksum.Method = .rowHashes) async throws -> [String: TableChecksum] {
        let all = try await pool.withConnection { try await TableChecksum.all(on: $0, method: method, logger: TestPostgres.logger) }
        return Dictionary(all.map { ($0.table, $0) }, uniquingKeysWith: { first, _ in first })
    }

    @Test(.timeLimit(.minutes(1)))
    func aChecksumFollowsTheRowsNotTheirOrder() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            try await pool.query("CREATE TYPE public.mood AS ENUM ('calm', 'busy')")
            try await pool.query(
                "CREATE TABLE public.typed (id int PRIMARY KEY, note text, doc jsonb, blob bytea, mood public.mood, tags int[], at timestamptz)"
            )
            try await pool.query("CREATE TABLE public.loose (id int, doc json)")
            try await pool.query(
                """
                INSERT INTO public.typed
                SELECT n, repeat('x', n % 50), jsonb_build_object('n', n), decode(md5(n::text), 'hex'), 'calm', ARRAY[n, n + 1], now()
                FROM generate_series(1, 500) AS n
                """
            )
            try await pool.query("INSERT INTO public.loose SELECT n, json_build_object('n', n) FROM generate_series(1, 100) AS n")
            let before = try await checksums(pool)
            let typed = try #require(before["public.typed"])
            let loose = try #require(before["public.loose"])
            #expect(typed.rows == 500 && typed.checksum.hasPrefix("h:"), "hashed by type: \(typed.checksum)")
            #expect(loose.rows == 100 && loose.checksum.hasPrefix("t:"), "json has no hash function: by text: \(loose.checksum)")

            // Laid out anew (every row moved), the same rows: the same checksums.
            try await pool.query("UPDATE public.typed SET note = note")
            try await pool.query("VACUUM FULL public.typed")
            #expect(try await checksums(pool)["public.typed"] == typed)

            // One value changed, a row duplicated, a row gone: each is seen.
            try await pool.query("UPDATE public.typed SET note = note || '!' WHERE id = 7")
            let changed = try #require(try await checksums(pool)["public.typed"])
            #expect(changed.rows == 500 && changed.checksum != typed.checksum)
            try await pool.query("UPDATE public.typed SET note = left(note, length(note) - 1) WHERE id = 7")
            #expect(try await checksums(pool)["public.typed"] == typed)
            try await pool.query("INSERT INTO public.loose SELECT * FROM public.loose WHERE id = 3")
            #expect(try await checksums(pool)["public.loose"]?.checksum != loose.checksum)
            try await pool.query("DELETE FROM public.typed WHERE id = 9")
            #expect(try await checksums(pool)["public.typed"]?.rows == 499)

            // The ordered md5 of manifests taken before row hashes is still computed for them.
            let legacy = try await checksums(pool, method: .orderedMD5)
            #expect(legacy["public.typed"]?.checksum.count == 32 && TableChecksum.Method.of(Array(legacy.values)) == .orderedMD5)
            #expect(TableChecksum.Method.of(Array(before.values)) == .rowHashes)
        }
    }

    @Test func aManifestWithASecondSumMatchesByItsFirst() {
        let now = TableChecksum(table: "public.t", rows: 3, checksum: "h:-42")
        #expect(TableChecksum(table: "public.t", rows: 3, checksum: "h:-42:977").matches(now))
        #expect(!TableChecksum(table: "public.t", rows: 3, checksum: "h:-43:977").matches(now))
        #expect(!TableChecksum(table: "public.t", rows: 4, checksum: "h:-42").matches(now))
        #expect(!TableChecksum(table: "public.t", rows: 3, checksum: "t:-42").matches(now))
        #expect(BackupDrill.differing(expected: [TableChecksum(table: "public.t", rows: 3, checksum: "h:-42:1")], found: [now]).isEmpty)
        #expect(BackupDrill.differing(expected: [], found: [now]) == ["public.t"])
    }
}

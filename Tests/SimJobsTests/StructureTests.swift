import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresNIO
import StrataCore
import StrataHTTP
import StrataObjects
import StrataPostgres
import StrataTestSupport
import Testing

@testable import SimJobs

let waterXYZ = Data("3\nwater\nO 0.000 0.000 0.117\nH 0.000 0.757 -0.467\nH 0.000 -0.757 -0.467\n".utf8)
let methaneXYZ = Data("5\nmethane\nC 0 0 0\nH 0.63 0.63 0.63\nH -0.63 -0.63 0.63\nH -0.63 0.63 -0.63\nH 0.63 -0.63 -0.63\n".utf8)

let ethanolCIF = Data(
    """
    # a hand-written CIF with the shapes real files use
    data_ethanol
    _symmetry_space_group_name_H-M   'P 1'
    _cell_length_a 10.0
    loop_
    _atom_site_label
    _atom_site_type_symbol
    _atom_site_fract_x
    _atom_site_fract_y
    _atom_site_fract_z
    C1 C 0.1 0.1 0.1
    C2 C 0.2 0.1 0.1
    O1 O 0.3 0.1
    0.1
    H1 H 0.1 0.2 0.1
    H2 H 0.1 0.3 0.1
    H3 H 0.1 0.4 0.1
    H4 H 0.2 0.2 0.1
    H5 H 0.2 0.3 0.1
    H6 H 0.3 0.2 0.1
    loop_
    _symmetry_equiv_pos_as_xyz
    'x, y, z'
    """.utf8
)

@Suite struct StructureFileTests {
    @Test func readsXYZAtomsAndAHillFormula() throws {
        let file = try StructureFile.parse(waterXYZ, format: .xyz)
        #expect(file == StructureFile(format: .xyz, atomCount: 3, formula: "H2 O", spaceGroup: nil))
        #expect(StructureFile.hillFormula(["O": 1, "H": 6, "C": 2]) == "C2 H6 O")
        #expect(StructureFile.hillFormula(["Zn": 4, "O": 13]) == "O13 Zn4")
    }

    @Test func readsCIFSitesFormulaAndSpaceGroupAcrossWrappedRows() throws {
        let file = try StructureFile.parse(ethanolCIF, format: .cif)
        #expect(file == StructureFile(format: .cif, atomCount: 9, formula: "C2 H6 O", spaceGroup: "P 1"))
        let withSum = Data("data_x\n_chemical_formula_sum 'Zn4 O13  C24 H12'\nloop_\n_atom_site_label\nZn1\nO1\n".utf8)
        #expect(try StructureFile.parse(withSum, format: .cif).formula == "Zn4 O13 C24 H12")
    }

    @Test func refusesFilesThatDoNotParseSayingWhere() {
        let cases: [(String, StructureFormat, String)] = [
            ("three\nx\n", .xyz, "line 1"),
            ("2\nc\nO 0 0 0\nH 0 0\n", .xyz, "line 4"),
            ("2\nc\nO 0 0 0\n", .xyz, "1 atom lines"),
            ("2\nc\nO 0 0 0\nh 0 0 1\n", .xyz, "line 4"),
            ("loop_\n_atom_site_label\nC1\n", .cif, "data block"),
            ("data_x\n_cell_length_a 1\n", .cif, "_atom_site_"),
            ("data_x\nloop_\n_atom_site_label\n_atom_site_fract_x\nC1 0.1\nC2\n", .cif, "3 values for 2 columns"),
            ("data_x\nloop_\n_atom_site_label\n'C1\n", .cif, "never closed"),
        ]
        for (text, format, words) in cases {
            do {
                _ = try StructureFile.parse(Data(text.utf8), format: format)
                Issue.record("accepted: \(text)")
            } catch let error as StrataError {
                #expect(error.code == .invalidStructureFile && error.message.contains(words), "\(error.message)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        #expect(throws: StrataError(.invalidStructureFile, "")) { try StructureFile.parse(Data([0xff, 0xfe, 0x00]), format: .xyz) }
    }
}

@Suite struct StructureServiceTests {
    /// The same checks over each object store.
    func withStores(_ body: @escaping @Sendable (any ObjectStore) async throws -> Void) async throws {
        try await withTestFileStore { try await body($0) }
        try await withTestS3Store { try await body($0) }
    }

    @Test(.timeLimit(.minutes(1)))
    func uploadsStoreTheFileFirstAndTheSameBytesAreTheSameStructure() async throws {
        try await withStores { objects in
            try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
                let service = StructureService(pool: database.pool, objects: objects)
                let first = try await service.upload(
                    waterXYZ,
                    name: "water.xyz",
                    format: nil,
                    by: Caller(actor: "api_key:tester", name: "tester", requestID: "r1")
                )
                #expect(first.created && first.structure.format == .xyz && first.structure.atomCount == 3)
                #expect(first.structure.formula == "H2 O" && first.structure.fileSize == Int64(waterXYZ.count))
                let expiry = try #require(first.structure.expiresAt)
                #expect(abs(expiry.timeIntervalSinceNow - 180 * 86400) < 120)
                #expect(try await service.content(first.structure.id).1 == waterXYZ)

                try await database.pool.query("UPDATE simjobs.structures SET expires_at = now() + interval '1 day'")
                let again = try await service.upload(waterXYZ, name: "other-name.xyz", format: nil, by: .job("tester"))
                #expect(!again.created && again.structure.id == first.structure.id && again.structure.name == "water.xyz")
                #expect(
                    abs((again.structure.expiresAt ?? .distantPast).timeIntervalSinceNow - 180 * 86400) < 120,
                    "a re-upload keeps it 180 days more"
                )
                #expect(try await objects.listAll(prefix: "simjobs/structures/").count == 1)

                let events = try await database.pool.query(
                    "SELECT kind FROM strata.outbox WHERE aggregate_type = 'structure'"
                ).map { try $0.decode(String.self) }
                #expect(events == ["structure.uploaded"])
                let audits = try await database.pool.query(
                    "SELECT action FROM strata.audit_log WHERE resource_type = 'structure'"
                ).map { try $0.decode(String.self) }
                #expect(audits == ["upload"])
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func eightConcurrentUploadsOfOneFileLeaveOneRowAndOneObject() async throws {
        try await withStores { objects in
            try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
                let service = StructureService(pool: database.pool, objects: objects)
                let results = try await withThrowingTaskGroup(of: (UUID, Bool).self) { group in
                    for index in 0..<8 {
                        group.addTask {
                            let (structure, created) = try await service.upload(
                                ethanolCIF,
                                name: "ethanol-\(index).cif",
                                format: nil,
                                by: .job("tester")
                            )
                            return (structure.id, created)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(Set(results.map(\.0)).count == 1)
                #expect(results.filter(\.1).count == 1, "exactly one upload created it")
                #expect(try await database.pool.query("SELECT count(*) FROM simjobs.structures").first?.decode(Int64.self) == 1)
                #expect(try await objects.listAll(prefix: "simjobs/structures/").count == 1, "the losers' files are removed")
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func badUploadsWriteNothingAndDeletionRemovesRowThenFile() async throws {
        try await withStores { objects in
            try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
                let pool = database.pool
                let service = StructureService(pool: pool, objects: objects)
                for (data, name, format) in [
                    (Data("nonsense".utf8), "bad.xyz", StructureFormat?.none),
                    (waterXYZ, "no-extension", nil),
                    (waterXYZ, "bad\"name.xyz", nil),
                    (Data(), "empty.xyz", nil),
                ] {
                    await #expect(throws: StrataError.self) {
                        try await service.upload(data, name: name, format: format, by: .job("tester"))
                    }
                }
                #expect(try await pool.query("SELECT count(*) FROM simjobs.structures").first?.decode(Int64.self) == 0)
                #expect(try await objects.listAll(prefix: "").isEmpty)

                let structure = try await service.upload(waterXYZ, name: "water.xyz", format: nil, by: .job("tester")).structure
                let task = try await TaskService(pool: pool).submit(
                    [TaskService.Submission(modelName: "mace-mp-0-medium", structureID: structure.id)],
                    type: .optimization,
                    by: .job("tester")
                )[0]
                try await service.delete(structure.id, by: .job("tester"))
                #expect(try await objects.listAll(prefix: "").isEmpty)
                await #expect(throws: StrataError(.notFound, "")) { try await service.structure(structure.id) }
                let kept = try await TaskService(pool: pool).task(task.id)
                #expect(kept.structureID == nil && kept.structureName == "water.xyz")

                let builtin = try await service.upload(
                    ethanolCIF,
                    name: "ethanol.cif",
                    format: nil,
                    builtin: true,
                    by: .job("tester")
                )
                #expect(builtin.structure.isBuiltin && builtin.structure.expiresAt == nil)
                await #expect(throws: StrataError(.structureBuiltin, "")) {
                    try await service.delete(builtin.structure.id, by: .job("tester"))
                }
            }
        }
    }
}

/// The structure routes through the server's whole router.
@Suite struct StructureRoutesTests {
    @Test(.timeLimit(.minutes(1)))
    func uploadDownloadListAndDeleteOverHTTPWithClearErrors() async throws {
        try await withTestFileStore { objects in
            try await withTestModule(SimJobsModule(configuration: .init(uploadMaxSize: 4096))) { database in
                ModuleEnvironment(pool: database.pool, objects: objects, logger: TestPostgres.logger)
            } _: { database, client, _ in
                let pool = database.pool
                let keys = APIKeyStore(pool: pool)
                let writer = try await keys.create(.init(name: "writer", permissions: ["simjobs.read", "simjobs.write"])).secret
                let auth: HTTPFields = [.xAPIKey: writer]
                let path = "/api/simjobs/structures"
                let created = try await client.execute(
                    uri: "\(path)?name=ethanol.cif",
                    method: .post,
                    headers: auth,
                    body: ByteBuffer(bytes: ethanolCIF)
                ) { response in
                    #expect(response.status == .created)
                    return try JSONDecoder().decode([String: JSONValue].self, from: Data(response.body.readableBytesView))
                }
                #expect(created["n_atoms"] == .number(9) && created["formula"] == .string("C2 H6 O"))
                let id = try #require(created["id"]?.stringValue)
                try await client.execute(uri: "\(path)?name=copy.cif", method: .post, headers: auth, body: ByteBuffer(bytes: ethanolCIF)) {
                    #expect($0.status == .ok, "the same bytes again")
                }
                try await client.execute(uri: "\(path)/\(id)/content", method: .get, headers: auth) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "chemical/x-cif")
                    #expect(Data(response.body.readableBytesView) == ethanolCIF)
                }
                try await client.execute(uri: "\(path)?name=w.xyz", method: .post, headers: auth, body: ByteBuffer(bytes: waterXYZ)) {
                    #expect($0.status == .created)
                }
                // multipart/form-data, as curl -F and browsers send it: the part's filename names it.
                var form = MultipartBody()
                form.field("comment", "from a form")
                form.file(fileName: "methane.xyz", contentType: "chemical/x-xyz", data: methaneXYZ)
                var formHeaders = auth
                formHeaders[.contentType] = form.contentType
                let fromForm = try await client.execute(uri: path, method: .post, headers: formHeaders, body: ByteBuffer(bytes: form.body)) {
                    response in
                    #expect(response.status == .created, "\(String(buffer: response.body))")
                    return try JSONDecoder().decode([String: JSONValue].self, from: Data(response.body.readableBytesView))
                }
                #expect(fromForm["name"] == .string("methane.xyz") && fromForm["formula"] == .string("C H4"))
                let formID = try #require(fromForm["id"]?.stringValue)
                try await client.execute(uri: "\(path)/\(formID)/content", method: .get, headers: auth) { response in
                    #expect(Data(response.body.readableBytesView) == Data(methaneXYZ), "the part's bytes, without the form around them")
                }
                try await client.execute(uri: "\(path)/\(formID)", method: .delete, headers: auth) { #expect($0.status == .noContent) }

                let listed = try await client.execute(uri: "\(path)?limit=1", method: .get, headers: auth) { response in
                    try JSONDecoder().decode(ListPage.self, from: Data(response.body.readableBytesView))
                }
                #expect(listed.items.count == 1 && listed.next_cursor != nil)
                try await client.execute(uri: "\(path)?format=xyz", method: .get, headers: auth) { response in
                    let page = try JSONDecoder().decode(ListPage.self, from: Data(response.body.readableBytesView))
                    #expect(page.items.count == 1 && page.next_cursor == nil)
                }

                // Bad input: clear 4xx, nothing written.
                var refusals: [(String, [UInt8], HTTPFields, HTTPResponse.Status, String)] = [
                    ("\(path)?name=x.cif", Array(waterXYZ), auth, .unprocessableContent, "simjobs.invalid_structure_file"),
                    ("\(path)?name=x.pdb", Array(waterXYZ), auth, .unprocessableContent, "validation_failed"),
                    ("\(path)", Array(waterXYZ), auth, .unprocessableContent, "validation_failed"),
                    ("\(path)?name=big.xyz", Array(repeating: 0x41, count: 5000), auth, .contentTooLarge, "payload_too_large"),
                    ("\(path)?name=x.xyz", Array(waterXYZ), [:], .unauthorized, "unauthenticated"),
                    ("\(path)?name=x.xyz&builtin=true", Array(waterXYZ), auth, .forbidden, "forbidden"),
                ]
                var noFile = MultipartBody(boundary: "b0undary")
                noFile.field("name", "x.xyz")
                var twoFiles = MultipartBody(boundary: "b0undary")
                twoFiles.file(fileName: "a.xyz", data: waterXYZ)
                twoFiles.file(fileName: "b.xyz", data: waterXYZ)
                var unclosed = MultipartBody(boundary: "b0undary")
                unclosed.file(fileName: "a.xyz", data: waterXYZ)
                var formAuth = auth
                formAuth[.contentType] = "multipart/form-data; boundary=b0undary"
                var noBoundary = auth
                noBoundary[.contentType] = "multipart/form-data"
                refusals += [
                    (path, noFile.body, formAuth, .unprocessableContent, "validation_failed"),
                    (path, twoFiles.body, formAuth, .unprocessableContent, "validation_failed"),
                    (path, unclosed.bytes, formAuth, .badRequest, "malformed_body"),
                    (path, Array("garbage".utf8), formAuth, .badRequest, "malformed_body"),
                    (path, twoFiles.body, noBoundary, .badRequest, "malformed_body"),
                ]
                for (uri, body, headers, status, code) in refusals {
                    try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(bytes: body)) { response in
                        #expect(response.status == status, "\(uri)")
                        #expect(String(buffer: response.body).contains("\"\(code)\""), "\(uri): \(String(buffer: response.body))")
                    }
                }
                #expect(try await pool.query("SELECT count(*) FROM simjobs.structures").first?.decode(Int64.self) == 2)
                // Every wrong query parameter is named in one answer.
                try await client.execute(uri: "\(path)?builtin=maybe&format=pdb&limit=0&cursor=x", method: .get, headers: auth) { response in
                    #expect(response.status == .unprocessableContent)
                    let problem = try JSONDecoder().decode(Problem.self, from: Data(response.body.readableBytesView))
                    #expect(Set(problem.errors.map(\.field)) == ["builtin", "format", "limit", "cursor"])
                }

                try await client.execute(uri: "\(path)/\(id)", method: .delete, headers: auth) { #expect($0.status == .noContent) }
                try await client.execute(uri: "\(path)/\(id)", method: .get, headers: auth) { #expect($0.status == .notFound) }
                try await client.execute(uri: "\(path)/not-a-uuid/content", method: .get, headers: auth) { #expect($0.status == .notFound) }
            }
        }
    }

    struct Problem: Decodable {
        var errors: [StrataError.FieldError]
    }

    struct ListPage: Decodable {
        var items: [[String: JSONValue]]
        var next_cursor: String?
    }
}

import Foundation
import StrataCore
import StrataTestSupport
import Testing

@testable import StrataHTTP

/// The multipart/form-data parser behind ``FileUpload``.
@Suite struct MultipartFormTests {
    @Test func partsKeepTheirNamesFileNamesTypesAndExactBytes() throws {
        var form = MultipartBody(boundary: "xyz")
        form.field("note", "two\r\nlines")
        // Bytes that look like a boundary inside the content must not end the part.
        let tricky: [UInt8] = Array("--xy\r\n--xyzz not the end\r\n".utf8) + [0, 255, 13, 10]
        form.file(fileName: "a; b.bin", contentType: "application/octet-stream", data: tricky)
        let parts = try MultipartForm.parse(Data(Array("preamble\r\n".utf8) + form.body), boundary: "xyz")
        #expect(parts.map(\.name) == ["note", "file"])
        #expect(String(decoding: parts[0].data, as: UTF8.self) == "two\r\nlines")
        #expect(parts[1].fileName == "a; b.bin")
        #expect(parts[1].contentType == "application/octet-stream")
        #expect([UInt8](parts[1].data) == tricky)
    }

    @Test func headersAndParametersAreReadAsBrowsersWriteThem() throws {
        let type = try #require(MultipartForm.mediaType("Multipart/Form-Data; charset=utf-8; boundary=\"a b;c\""))
        #expect(type.type == "multipart/form-data" && type.boundary == "a b;c")
        #expect(MultipartForm.mediaType("multipart/form-data")?.boundary == nil)
        let parameters = try #require(
            MultipartForm.dispositionParameters(#"form-data; name="file"; filename="x;y.cif"; filename*=UTF-8''na%C3%AFve.cif"#)
        )
        #expect(parameters["name"] == "file" && parameters["filename"] == "x;y.cif")
        #expect(parameters["filename*"].flatMap(MultipartForm.extendedValue) == "naïve.cif")
        #expect(MultipartForm.dispositionParameters("attachment; name=x") == nil)
    }

    @Test func brokenBodiesAreMalformedNotCrashes() {
        let bodies = [
            "", "--xyz", "--xyz\r\n", "--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
            "--xyz\r\nno colon here\r\n\r\nv\r\n--xyz--", "--xyz\r\nContent-Type: text/plain\r\n\r\nv\r\n--xyz--", "--xyzjunk",
        ]
        for body in bodies {
            #expect(throws: StrataError.self, "\(body.debugDescription)") { try MultipartForm.parse(Data(body.utf8), boundary: "xyz") }
        }
        #expect((try? MultipartForm.parse(Data("--xyz--\r\n".utf8), boundary: "xyz"))?.isEmpty == true)
    }
}

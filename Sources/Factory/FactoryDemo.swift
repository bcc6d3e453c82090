import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataObjects
import StrataPostgres

/// `strata seed factory`: a small plant — two factories with two lines each and three stations
/// per line, a month of production metrics every five minutes (with their rollups), anomalies in
/// every state of their lifecycle (one closed with a case), a cause graph, defect images and
/// three users (an administrator, an engineer of one line, a viewer of one factory) whose
/// passwords are printed once. Idempotent: what exists is left as it is, and the metrics' grid
/// (the last 30 whole days, UTC) is replayed without adding a point.
enum FactoryDemo {
    static let caller = Caller.job("seed", kind: "system")

    static let plant: [(factory: String, line: String, name: String)] = [
        ("F-SZ", "SZ-L1", "Shenzhen welding line 1"), ("F-SZ", "SZ-L2", "Shenzhen assembly line 2"),
        ("F-SU", "SU-L1", "Suzhou stamping line 1"), ("F-SU", "SU-L2", "Suzhou paint line 2"),
    ]
    static let stationKinds = ["loading", "process", "inspection"]

    static func seed(pool: PostgresPool, objects: any ObjectStore, logger: Logger) async throws -> [String] {
        var lines: [String] = []
        let plantService = PlantService(pool: pool, logger: logger)
        for (factory, line, name) in plant {
            lines.append(
                try await created("line \(line)") {
                    _ = try await plantService.createLine(.init(lineID: line, lineName: name, factoryID: factory), by: caller)
                }
            )
            for (index, kind) in stationKinds.enumerated() {
                let station = "\(line)-S\(index + 1)"
                lines.append(
                    try await created("station \(station)") {
                        _ = try await plantService.createStation(
                            on: line,
                            .init(
                                stationID: station,
                                stationName: "\(kind.capitalized) \(index + 1)",
                                stationType: kind,
                                sequenceOrder: index + 1,
                                equipmentIDs: ["EQ-\(station)"]
                            ),
                            by: caller
                        )
                    }
                )
            }
        }
        lines += try await seedUsers(pool: pool, logger: logger)
        lines.append(try await seedMetrics(pool: pool, logger: logger))
        lines += try await seedAnomalies(pool: pool, objects: objects, logger: logger)
        return lines
    }

    /// Runs a create; a conflict (it exists) is reported as such.
    static func created(_ what: String, _ create: () async throws -> Void) async throws -> String {
        do {
            try await create()
            return "created \(what)"
        } catch let error as StrataError where error.code == .conflict {
            return "exists \(what)"
        }
    }

    static func seedUsers(pool: PostgresPool, logger: Logger) async throws -> [String] {
        let users = UserService(pool: pool, logger: logger)
        var lines: [String] = []
        for (id, name, role, factories, plantLines) in [
            ("plant-admin", "Plant Admin", FactoryUser.Role.admin, nil, nil), ("li-wei", "Li Wei", .engineer, ["F-SZ"], ["SZ-L1"]),
            ("su-viewer", "Suzhou Viewer", .viewer, ["F-SU"], nil),
        ] as [(String, String, FactoryUser.Role, [String]?, [String]?)] {
            let password = SecureRandom.hex(bytes: 12)
            let line = try await created("user \(id)") {
                _ = try await users.create(
                    .init(userID: id, username: name, password: password, role: role, factoryIDs: factories, lineIDs: plantLines),
                    by: caller
                )
            }
            lines.append(line.hasPrefix("created") ? "\(line) (sign in as '\(name)' with password \(password))" : line)
        }
        return lines
    }

    /// Every five minutes of the last 30 whole days, per station: deterministic values, so a
    /// second run replays the same points.
    static func seedMetrics(pool: PostgresPool, logger: Logger) async throws -> String {
        let metrics = MetricsService(pool: pool, logger: logger)
        let day = 86_400.0
        let end = (Date().timeIntervalSince1970 / day).rounded(.down) * day
        let start = end - 30 * day
        var batch: [MetricPoint] = []
        var total = 0
        for (_, line, _) in plant {
            for index in stationKinds.indices {
                let station = "\(line)-S\(index + 1)"
                var time = start
                var state = station.stableHash
                while time < end {
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    let noise = Double(state >> 40) / Double(1 << 24)
                    let dip = (time / day).truncatingRemainder(dividingBy: 7) < 0.1 ? 6.0 : 0
                    batch.append(
                        MetricPoint(
                            time: Date(timeIntervalSince1970: time),
                            lineID: line,
                            stationID: station,
                            yieldRate: ((96 + noise * 3.5 - dip) * 100).rounded() / 100,
                            cycleTime: ((42 + Double(index) * 3 + noise * 4) * 100).rounded() / 100
                        )
                    )
                    if batch.count == 5_000 {
                        total += try await metrics.write(batch, by: caller)
                        batch.removeAll(keepingCapacity: true)
                    }
                    time += 300
                }
            }
        }
        if !batch.isEmpty { total += try await metrics.write(batch, by: caller) }
        let marks = try await metrics.rollUp()
        return "wrote \(total) production points (a replay adds none), rolled up the hours of \(marks) marks"
    }

    static func seedAnomalies(pool: PostgresPool, objects: any ObjectStore, logger: Logger) async throws -> [String] {
        let existing =
            try await pool.query("SELECT count(*) FROM factory.anomalies WHERE created_by = \(caller.actor)").first?.decode(Int64.self) ?? 0
        guard existing == 0 else { return ["exists \(existing) demo anomalies"] }
        let service = AnomalyService(pool: pool, logger: logger)
        let graph = GraphService(pool: pool, logger: logger)
        let images = ImageService(pool: pool, objects: objects, logger: logger)
        let targets: [(line: String, station: String, defect: String, severity: Severity, until: AnomalyStatus)] = [
            ("SZ-L1", "SZ-L1-S2", "weld porosity", .high, .closed), ("SZ-L1", "SZ-L1-S2", "spatter", .low, .open),
            ("SZ-L2", "SZ-L2-S3", "missing screw", .medium, .diagnosing), ("SU-L1", "SU-L1-S2", "burr on edge", .medium, .solutionPending),
            ("SU-L1", "SU-L1-S1", "coil misfeed", .critical, .executing), ("SU-L2", "SU-L2-S2", "paint run", .high, .verifying),
            ("SU-L2", "SU-L2-S3", "orange peel", .low, .cancelled),
        ]
        var lines: [String] = []
        for target in targets {
            let anomaly = try await service.report(
                .init(
                    lineID: target.line,
                    stationID: target.station,
                    defectType: target.defect,
                    severity: target.severity,
                    description: "\(target.defect.capitalized) found at \(target.station) during inspection",
                    detectedAt: Date().addingTimeInterval(-86_400 * 3)
                ),
                by: caller
            )
            try await walk(anomaly, to: target.until, service: service)
            _ = try await images.upload(
                Self.demoImage(seed: target.defect),
                fileName: "\(target.station)-\(target.defect.replacingOccurrences(of: " ", with: "-")).png",
                to: anomaly.anomalyID,
                by: caller
            )
            if target.until == .closed || target.until == .verifying {
                let (problem, _) = try await graph.problemNode(for: anomaly.anomalyID, by: caller)
                try await seedCauses(of: problem.nodeID, graph: graph)
            }
            lines.append("created anomaly '\(target.defect)' on \(target.line) (\(target.until.rawValue))")
        }
        return lines
    }

    /// Moves a new anomaly along its lifecycle to `target`.
    static func walk(_ anomaly: Anomaly, to target: AnomalyStatus, service: AnomalyService) async throws {
        let id = anomaly.anomalyID
        if target == .open { return }
        if target == .cancelled {
            _ = try await service.transition(id, to: .cancelled, reason: "duplicate report", by: caller)
            return
        }
        _ = try await service.transition(id, to: .diagnosing, reason: nil, by: caller)
        if target == .diagnosing { return }
        let solution = try await service.propose(
            .init(solutionType: .repair, solutionName: "Replace the worn part", successRate: 90, expectedLoss: 1_200),
            for: id,
            by: caller
        )
        _ = try await service.propose(
            .init(solutionType: .adjustment, solutionName: "Retune the process", successRate: 65, expectedLoss: 300),
            for: id,
            by: caller
        )
        _ = try await service.recommend(solution.solutionID, by: caller)
        if target == .solutionPending { return }
        _ = try await service.adopt(solution.solutionID, by: caller)
        let order = try await service.openWorkOrder(
            for: solution.solutionID,
            .init(orderType: .repair, instructions: "Swap the part, run 20 test pieces"),
            by: caller
        )
        if target == .executing {
            _ = try await service.step(order.orderID, .start, by: caller)
            return
        }
        _ = try await service.step(order.orderID, .start, by: caller)
        _ = try await service.step(order.orderID, .complete, .init(executionResult: .success, actualLoss: 950, actualDurationHours: 1.5), by: caller)
        if target == .verifying { return }
        _ = try await service.verify(order.orderID, accepted: true, notes: "20 of 20 test pieces good", by: caller)
        _ = try await service.close(
            id,
            .init(
                rootCause: "Worn contact tip",
                fileCase: .init(lessonsLearned: "Check contact tips at every shift change", tags: ["welding", "consumables"])
            ),
            by: caller
        )
    }

    static func seedCauses(of problem: String, graph: GraphService) async throws {
        for (id, label, confidence) in [
            ("cause:worn-tooling", "Worn tooling", 0.8), ("cause:material-batch", "Out-of-spec material batch", 0.6),
            ("cause:supplier-change", "Supplier changed alloy", 0.7), ("cause:maintenance-skipped", "Preventive maintenance skipped", 0.9),
        ] {
            _ = try await created(id) {
                _ = try await graph.create(.init(nodeID: id, kind: .cause, label: label, confidence: confidence), by: caller)
            }
        }
        _ = try await created("evidence") {
            _ = try await graph.create(.init(nodeID: "evidence:wear-measurement", kind: .evidence, label: "Tip wear 0.4 mm over limit"), by: caller)
        }
        for (from, kind, to, confidence) in [
            (problem, GraphEdge.Kind.causedBy, "cause:worn-tooling", 0.9), (problem, .causedBy, "cause:material-batch", 0.5),
            ("cause:worn-tooling", .causedBy, "cause:maintenance-skipped", 0.8), ("cause:material-batch", .causedBy, "cause:supplier-change", 0.9),
            ("cause:worn-tooling", .hasEvidence, "evidence:wear-measurement", 1), ("evidence:wear-measurement", .supports, "cause:worn-tooling", 1),
        ] {
            _ = try await graph.link(.init(fromNode: from, kind: kind, toNode: to, confidence: confidence), by: caller)
        }
    }

    /// A small, valid PNG (a 1×1 grey pixel), varied by `seed` in a text chunk.
    static func demoImage(seed: String) -> Data {
        var bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        func chunk(_ type: String, _ data: [UInt8]) {
            let typed = Array(type.utf8) + data
            bytes += withUnsafeBytes(of: UInt32(data.count).bigEndian, Array.init)
            bytes += typed
            bytes += withUnsafeBytes(of: CRC32.checksum(typed).bigEndian, Array.init)
        }
        chunk("IHDR", [0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0])
        chunk("tEXt", Array("Comment\u{0}\(seed)".utf8))
        chunk("IDAT", [0x78, 0x9C, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01])
        chunk("IEND", [])
        return Data(bytes)
    }
}

/// CRC-32 (IEEE), for the PNG chunks of the demo images.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { index in
        (0..<8).reduce(UInt32(index)) { crc, _ in crc & 1 == 1 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        ~bytes.reduce(~UInt32(0)) { crc, byte in table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    }
}

extension String {
    /// FNV-1a: a hash that is the same in every process (Swift's `hashValue` is seeded per process).
    var stableHash: UInt64 {
        utf8.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
    }
}

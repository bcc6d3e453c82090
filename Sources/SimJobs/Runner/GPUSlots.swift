/// The worker's GPUs, which are free, and which models its ``ModelLoader`` has loaded on them.
/// The worker claims at most as many tasks as it has GPUs, so a claimed task always finds one.
actor GPUSlots {
    private var free: [Int]
    /// Model name → the GPUs holding it (this process's loads: a new worker holds none).
    private var held: [String: Set<Int>] = [:]
    let all: [Int]

    init(_ gpus: [Int]) {
        all = gpus.sorted()
        free = all
    }

    /// The GPUs running a task now.
    var busy: [Int] { all.filter { !free.contains($0) } }

    /// Takes the lowest free GPU holding `model` (affinity), else the lowest free GPU.
    func take(for model: String? = nil) -> Int? {
        if let model, let holding = held[model], let index = free.firstIndex(where: holding.contains) { return free.remove(at: index) }
        return free.isEmpty ? nil : free.removeFirst()
    }

    /// Records that `model` is loaded on `gpu`, or no longer is.
    func setModel(_ model: String, loaded: Bool, on gpu: Int) {
        if loaded {
            held[model, default: []].insert(gpu)
        } else {
            held[model]?.remove(gpu)
            if held[model]?.isEmpty == true { held[model] = nil }
        }
    }

    /// Gives a GPU back.
    func give(_ gpu: Int) {
        free.append(gpu)
        free.sort()
    }
}

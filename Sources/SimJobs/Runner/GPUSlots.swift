/// The worker's GPUs and which are free. The worker claims at most as many tasks as it has
/// GPUs, so a claimed task always finds one.
actor GPUSlots {
    private var free: [Int]
    let all: [Int]

    init(_ gpus: [Int]) {
        all = gpus.sorted()
        free = all
    }

    /// The GPUs running a task now.
    var busy: [Int] { all.filter { !free.contains($0) } }

    /// Takes the lowest free GPU of `preferred`, else the lowest free GPU.
    func take(preferring preferred: Set<Int> = []) -> Int? {
        if let index = free.firstIndex(where: preferred.contains) { return free.remove(at: index) }
        return free.isEmpty ? nil : free.removeFirst()
    }

    /// Gives a GPU back.
    func give(_ gpu: Int) {
        free.append(gpu)
        free.sort()
    }
}

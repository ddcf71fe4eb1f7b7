/// A min-heap of deadlines with lazy cancellation: cancelled ids are dropped when they surface.
struct TimerQueue {
    private struct Entry {
        var deadline: UInt64
        var id: UInt64
    }

    private var heap: [Entry] = []
    private var work: [UInt64: (LoopContext) -> Void] = [:]
    private var nextID: UInt64 = 1

    mutating func insert(deadline: UInt64, _ body: @escaping (LoopContext) -> Void) -> TimerHandle {
        let id = nextID
        nextID += 1
        work[id] = body
        heap.append(Entry(deadline: deadline, id: id))
        siftUp(heap.count - 1)
        return TimerHandle(id: id)
    }

    mutating func cancel(_ handle: TimerHandle) {
        work.removeValue(forKey: handle.id)
        // Keep the heap from filling with dead entries when timers are re-armed often.
        if heap.count > 64 && heap.count > 4 * work.count { rebuild() }
    }

    mutating func nextDeadline() -> UInt64? {
        dropCancelledHead()
        return heap.first?.deadline
    }

    mutating func popExpired(now: UInt64) -> ((LoopContext) -> Void)? {
        dropCancelledHead()
        guard let head = heap.first, head.deadline <= now else { return nil }
        removeHead()
        return work.removeValue(forKey: head.id)
    }

    private mutating func dropCancelledHead() {
        while let head = heap.first, work[head.id] == nil { removeHead() }
    }

    private mutating func rebuild() {
        heap.removeAll { work[$0.id] == nil }
        heap.sort { $0.deadline < $1.deadline }  // a sorted array is a valid min-heap
    }

    private mutating func removeHead() {
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(0)
        }
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].deadline < heap[smallest].deadline { smallest = left }
            if right < heap.count && heap[right].deadline < heap[smallest].deadline { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

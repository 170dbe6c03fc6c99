import Foundation

/// Nearest-rank percentiles of a sample (p99 of 20 values is the largest: said so where printed).
struct Percentiles {
    let sorted: [Double]
    init(_ values: [Double]) { sorted = values.sorted() }

    func callAsFunction(_ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
    var largest: Double { sorted.last ?? .nan }
    var smallest: Double { sorted.first ?? .nan }
}

/// "1.234" (three decimals), the unit left to the caller.
func fixed(_ v: Double, _ decimals: Int = 3) -> String { String(format: "%.\(decimals)f", v) }

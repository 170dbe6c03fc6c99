/// Bounds on free text an agent sends (a job's error, a progress message) before it is stored:
/// an agent could otherwise fill the database, and every job view, with one 400 KB string
/// (red team finding F8). The start is kept (where the reason usually is) and the cut is marked.
enum AgentText {
    /// The most UTF-8 bytes of an error kept (in `jobs.error` and on the timeline).
    static let maxErrorBytes = 4 * 1024
    /// The most UTF-8 bytes of a progress message kept.
    static let maxProgressBytes = 500

    /// `text` if it fits in `maxBytes` UTF-8 bytes; otherwise its start, cut on a character
    /// boundary, followed by a note of how much was dropped. The result never exceeds `maxBytes`.
    static func capped(_ text: String, maxBytes: Int) -> String {
        let utf8 = text.utf8
        guard utf8.count > maxBytes else { return text }
        let note = " … [cut: \(utf8.count) bytes in all]"
        let budget = max(0, maxBytes - note.utf8.count)
        // Whole characters, so no scalar or grapheme is split; one that alone exceeds the budget
        // (a letter with thousands of combining marks) is dropped whole.
        var used = 0
        var end = text.startIndex
        for c in text {
            used += c.utf8.count
            if used > budget { break }
            end = text.index(after: end)
        }
        return String(text[..<end]) + note
    }
}

/// Enrollment secrets: 48 lowercase hex characters.
public enum Enrollment {
    public static let secretLength = 48

    public static func isWellFormedSecret(_ s: String) -> Bool {
        s.utf8.count == secretLength && s.utf8.allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) || ($0 >= 65 && $0 <= 70)
        }
    }
}

public enum Sextant { public static func main() async {} }

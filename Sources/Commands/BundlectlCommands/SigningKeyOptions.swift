import ArgumentParser
import Build
import Support
#if canImport(Glibc)
import Glibc
import SystemIO
#endif

/// SOURCE_DATE_EPOCH when set (reproducible runs), else now.
func signingTime() throws -> Int64 {
    guard let s = environment("SOURCE_DATE_EPOCH") else { return Timestamp.now() }
    guard let v = Int64(s), v >= 0 else { throw ToolError.usage("SOURCE_DATE_EPOCH must be a whole number of seconds") }
    return v
}

/// The one libc call of this file.
private func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

/// `--key` and `--password-file`, for every command that signs.
struct SigningKeyOptions: ParsableArguments {
    @Option(help: "Secret key that signs (minisign format).")
    var key: String
    @Option(help: "File whose first line is the secret key's password.")
    var passwordFile: String?

    func load() throws -> SigningKey { try KeyFiles.load(key, passwordFile: passwordFile) }
}

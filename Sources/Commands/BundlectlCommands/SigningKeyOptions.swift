import ArgumentParser
import Build
import Support
import SystemIO

/// SOURCE_DATE_EPOCH when set (reproducible runs), else now.
func signingTime() throws -> Int64 {
    guard let s = CurrentProcess.environment("SOURCE_DATE_EPOCH") else { return Timestamp.now() }
    guard let v = Int64(s), v >= 0 else { throw ToolError.usage("SOURCE_DATE_EPOCH must be a whole number of seconds") }
    return v
}

/// `--key` and `--password-file`, for every command that signs.
struct SigningKeyOptions: ParsableArguments {
    @Option(help: "Secret key that signs (minisign format).")
    var key: String
    @Option(help: "File whose first line is the secret key's password.")
    var passwordFile: String?

    func load() throws -> SigningKey { try KeyFiles.load(key, passwordFile: passwordFile) }
}

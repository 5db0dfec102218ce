import ArgumentParser
import Build
import CommandSupport
import Support
import SystemIO

/// SOURCE_DATE_EPOCH when set (reproducible runs), else now.
func signingTime() throws -> Int64 {
    guard let s = CurrentProcess.environment("SOURCE_DATE_EPOCH") else { return Timestamp.now() }
    guard let v = Int64(s), v >= 0 else { throw ToolError.usage("SOURCE_DATE_EPOCH must be a whole number of seconds") }
    return v
}

/// `--key` and `--password-file`, for every command that signs; BUNDLECTL_KEY stands in for
/// `--key` when it is not given.
struct SigningKeyOptions: ParsableArguments {
    static let variable = "BUNDLECTL_KEY"

    @Option(name: .customLong("key"), help: ArgumentHelp("Secret key that signs (minisign format; default: $\(SigningKeyOptions.variable); the flag wins).", valueName: "key"))
    var given: String?
    @Option(help: "File whose first line is the secret key's password.")
    var passwordFile: String?

    /// The secret key file: --key, else $BUNDLECTL_KEY (checked present by `validate`).
    var key: String { given ?? CommandEnvironment.value(SigningKeyOptions.variable) ?? "" }

    func validate() throws {
        if given == nil && CommandEnvironment.value(SigningKeyOptions.variable) == nil {
            throw ValidationError("give the secret key with --key FILE, or set \(SigningKeyOptions.variable)")
        }
    }

    func load() throws -> SigningKey { try KeyFiles.load(key, passwordFile: passwordFile) }
}

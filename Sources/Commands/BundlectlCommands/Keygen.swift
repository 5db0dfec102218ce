import ArgumentParser
import Build
import CommandSupport
import Support
import SystemIO

extension Bundlectl {
    struct Keygen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an Ed25519 signing key pair in minisign's file formats.")

        @Option(help: "Where to write the secret key (created with mode 600).")
        var secretKey: String
        @Option(help: "Where to write the public key.")
        var publicKey: String
        @Option(help: "File whose first line is the password that encrypts the secret key (scrypt, as minisign).")
        var passwordFile: String?
        @Flag(help: "Overwrite existing key files.")
        var force = false

        func validate() throws {
            guard secretKey != publicKey else { throw ValidationError("--secret-key and --public-key must be different files") }
        }

        func run() async throws {
            for path in [secretKey, publicKey] where try FS.info(path) != nil && !force {
                throw ToolError.usage("'\(path)' exists; pass --force to replace it")
            }
            let password = try passwordFile.map { try KeyFiles.readPassword($0) }
            let (secret, pub) = try KeyFiles.generate(password: password)
            try KeyFiles.save(secret, to: secretKey, pub, to: publicKey, replacing: force)
            if password == nil {
                warn("bundlectl", "the secret key is stored unencrypted; keep '\(secretKey)' offline or use --password-file")
            }
            var s = Summary()
            s.add("key id", pub.idText)
            s.add("public key", "\(publicKey)  (\(pub.base64))")
            s.add("secret key", "\(secretKey)  (\(password == nil ? "unencrypted" : "encrypted with scrypt"))")
            s.print()
        }
    }
}

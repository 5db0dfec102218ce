import ArgumentParser
import BundleFormat
import Support
import SystemIO

/// Runs a command tree and turns every failure into one line on standard error and one of the
/// documented exit codes (0 ok, 1 refused, 2 usage or spec, 3 I/O or environment).
public enum CommandRunner {
    public static func main<Root: ParsableCommand>(_ root: Root.Type, name: String) async -> Never {
        do {
            var command = try root.parseAsRoot()
            if var async = command as? AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
            CurrentProcess.exit(0)
        } catch let e as ToolError {
            // One line whatever a message quotes: control characters are shown escaped.
            writeStandardError("\(name): \(ToolError.shown(e.message, limit: .max))\n")
            CurrentProcess.exit(e.status.rawValue)
        } catch {
            let code = root.exitCode(for: error)
            if code == .success {
                print(root.fullMessage(for: error))
                CurrentProcess.exit(0)
            }
            writeStandardError(root.fullMessage(for: error) + "\n")
            // Parse and validation failures are usage errors; anything else is the environment's.
            CurrentProcess.exit(code == .validationFailure || error is ValidationError ? ExitStatus.usage.rawValue : ExitStatus.environment.rawValue)
        }
    }
}

/// A transfer-log friendly block: "label  value" lines, aligned.
public struct Summary {
    public private(set) var rows: [(String, String)] = []
    public init() {}
    public mutating func add(_ label: String, _ value: String) { rows.append((label, value)) }
    public func print() {
        let width = rows.map(\.0.count).max() ?? 0
        for (l, v) in rows { printLine(l.padding(width) + "  " + v) }
    }
}

/// Writes one line of a report to standard output. Reports quote what came from outside (file
/// names on the media, a bundle's version, paths in its tree), so every line goes through
/// `ToolError.shown`: a control or bidirectional character is shown escaped, never obeyed.
public func printLine(_ text: String) {
    print(ToolError.shown(text, limit: .max))
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}

public func warn(_ name: String, _ text: String) {
    writeStandardError("\(name): warning: \(ToolError.shown(text, limit: .max))\n")
}

/// Reads the minisign public keys named by --trust options.
public func loadPublicKeys(_ paths: [String]) throws -> [PublicKey] {
    try paths.map { path in
        guard let info = try FS.info(path), info.kind == .regular else { throw ToolError.usage("public key '\(path)' does not exist") }
        return try PublicKey(text: String(decoding: FS.readFile(path, limit: 4096), as: UTF8.self), what: "public key '\(path)'")
    }
}

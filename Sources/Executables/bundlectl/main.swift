import BundlectlCommands
import CommandSupport

await CommandRunner.main(Bundlectl.self, name: "bundlectl")

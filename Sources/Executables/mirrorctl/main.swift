import CommandSupport
import MirrorctlCommands

await CommandRunner.main(Mirrorctl.self, name: "mirrorctl")

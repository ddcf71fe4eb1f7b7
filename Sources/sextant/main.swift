import SextantCLI

await Sextant.runFromCommandLine()

// Command palisade is the Palisade appliance: one binary that serves the
// federation gateway, the relay and the instance, and administers them.
//
// Run "palisade help" for the subcommands.
package main

import (
	"fmt"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run dispatches a subcommand and returns the process exit code.
func run(args []string) int {
	if len(args) == 0 {
		args = []string{"serve"}
	}
	name, rest := args[0], args[1:]
	for _, c := range commands {
		if c.name == name {
			if err := c.run(rest); err != nil && !isHelp(err) {
				fmt.Fprintf(os.Stderr, "palisade %s: %v\n", name, err)
				return 1
			}
			return 0
		}
	}
	switch name {
	case "help", "-h", "--help", "-help":
		usage(os.Stdout)
		return 0
	}
	fmt.Fprintf(os.Stderr, "palisade: unknown command %q\n\n", name)
	usage(os.Stderr)
	return 2
}

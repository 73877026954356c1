package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

// errHelp is returned when the user asked for help; run treats it as success.
var errHelp = flag.ErrHelp

// newFlagSet returns a flag set that prints a usage line, a description and
// the flags, and returns errors instead of exiting.
func newFlagSet(name, argsUsage, description string) *flag.FlagSet {
	fs := flag.NewFlagSet("palisade "+name, flag.ContinueOnError)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: palisade %s [flags] %s\n\n%s\n", name, argsUsage, description)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(out, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	fs.SetOutput(os.Stdout)
	return fs
}

func isHelp(err error) bool { return errors.Is(err, errHelp) }

package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
)

// command is one subcommand. run receives the arguments after its name and
// parses its own flags, so "palisade X --help" is always the command's own help.
type command struct {
	name    string
	summary string
	run     func(args []string) error
}

var commands []command

func register(c command) { commands = append(commands, c) }

func init() {
	register(command{name: "version", summary: "print the version", run: cmdVersion})
}

// version is set at link time (-ldflags "-X main.version=..."); otherwise the
// module's build info is used.
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func cmdVersion(args []string) error {
	fs := newFlagSet("version", "", "Print the version of this binary.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Println("palisade", versionString())
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Palisade — federation relay and moderation gateway.")
	fmt.Fprintln(w, "\nUsage: palisade <command> [flags]\n\nCommands:")
	sorted := slices.Clone(commands)
	slices.SortFunc(sorted, func(a, b command) int { return strings.Compare(a.name, b.name) })
	for _, c := range sorted {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"palisade <command> --help\" for a command's flags. With no command, palisade serves.")
}

package main

import (
	"errors"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

func init() {
	register(command{name: "config", summary: "print the documented defaults, or check a configuration", run: cmdConfig})
}

func cmdConfig(args []string) error {
	fs := newFlagSet("config", "defaults | check [FILE]", "defaults  prints the documented configuration file with every default.\n"+
		"check     loads FILE (or $PALISADE_CONFIG) with the environment applied, reports every\n"+
		"          problem, and prints the effective configuration.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "defaults":
		_, err := os.Stdout.Write(exampleConfig)
		return err
	case "check":
		path := fs.Arg(1)
		if path == "" {
			path = os.Getenv("PALISADE_CONFIG")
		}
		cfg, err := LoadConfig(path, os.Environ())
		if err != nil {
			return err
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			return err
		}
		fmt.Print(string(out))
		return nil
	case "":
		fs.Usage()
		return errors.New("config: want a subcommand: defaults or check")
	default:
		return fmt.Errorf("config: unknown subcommand %q (want defaults or check)", fs.Arg(0))
	}
}

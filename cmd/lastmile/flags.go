package main

import (
	"flag"
	"fmt"
	"io"
)

// flagSet wraps flag.FlagSet so that every flag can also come from an
// environment variable; a flag on the command line wins.
type flagSet struct {
	*flag.FlagSet
	getenv func(string) string
	envs   []envFlag
}

type envFlag struct {
	name, env string
	target    *string
}

func newFlagSet(name string, getenv func(string) string, stderr io.Writer) *flagSet {
	fs := flag.NewFlagSet("lastmile "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &flagSet{FlagSet: fs, getenv: getenv}
}

// stringVar declares --name, defaulting to $env, then def.
func (f *flagSet) stringVar(p *string, name, env, def, usage string) {
	f.StringVar(p, name, def, fmt.Sprintf("%s (env %s)", usage, env))
	f.envs = append(f.envs, envFlag{name, env, p})
}

// parse parses args, then fills every flag not given from its environment variable.
func (f *flagSet) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for _, e := range f.envs {
		if !set[e.name] {
			if v := f.getenv(e.env); v != "" {
				*e.target = v
			}
		}
	}
	return nil
}

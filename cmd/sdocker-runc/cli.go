package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// The command line is parsed with the standard library's flag package, as
// runc's (urfave/cli, itself on package flag) is: options before the
// arguments, -name and --name, --name=value and --name value. Not cobra,
// which sdocker uses: cobra and what it pulls in (text/template, regexp,
// net) cost ~2 ms of start-up per invocation here, and containerd and
// podman invoke the runtime several times per container.

// command is one subcommand.
type command struct {
	g                           *globals
	name, usage, short, example string
	// nargs: the arguments' count, at least min, at most max (-1: no limit).
	min, max int
	fs       *flag.FlagSet
	run      func(args []string) error
	// aliases maps a long flag name to its one-letter alias, for help.
	aliases map[string]string
}

func newCommand(g *globals, name, usage, short string, min, max int) *command {
	c := &command{g: g, name: name, usage: usage, short: short, min: min, max: max,
		fs: flag.NewFlagSet(name, flag.ContinueOnError), aliases: map[string]string{}}
	c.fs.SetOutput(io.Discard)
	return c
}

func (c *command) boolVar(p *bool, name, short string, value bool, usage string) {
	c.fs.BoolVar(p, name, value, usage)
	c.alias(name, short)
}

func (c *command) stringVar(p *string, name, short, value, usage string) {
	c.fs.StringVar(p, name, value, usage)
	c.alias(name, short)
}

func (c *command) varFlag(v flag.Value, name, short, usage string) {
	c.fs.Var(v, name, usage)
	c.alias(name, short)
}

func (c *command) alias(name, short string) {
	if short == "" {
		return
	}
	f := c.fs.Lookup(name)
	c.fs.Var(f.Value, short, f.Usage)
	c.aliases[name] = short
}

// changed reports whether the option (by its long name) was given.
func (c *command) changed(name string) bool {
	set := false
	c.fs.Visit(func(f *flag.Flag) {
		if f.Name == name || f.Name == c.aliases[name] {
			set = true
		}
	})
	return set
}

func (c *command) execute(args []string) error {
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.help(os.Stdout)
			return nil
		}
		return fmt.Errorf("%w (see 'sdocker-runc %s --help')", err, c.name)
	}
	rest := c.fs.Args()
	if len(rest) < c.min || c.max >= 0 && len(rest) > c.max {
		return fmt.Errorf("%q needs %s (see 'sdocker-runc %s --help')", c.name, c.argsWanted(), c.name)
	}
	if err := c.g.check(c.name, rest); err != nil {
		return err
	}
	return c.run(rest)
}

func (c *command) argsWanted() string {
	switch {
	case c.min == c.max && c.min == 0:
		return "no arguments"
	case c.min == c.max:
		return plural(c.min, "argument")
	case c.max < 0:
		return "at least " + plural(c.min, "argument")
	}
	return fmt.Sprintf("%d to %d arguments", c.min, c.max)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func (c *command) help(w io.Writer) {
	fmt.Fprintf(w, "%s\n\nUsage:\n  sdocker-runc %s\n", c.short, c.usage)
	if c.example != "" {
		fmt.Fprintf(w, "\nExamples:\n%s\n", c.example)
	}
	fmt.Fprintf(w, "\nOptions:\n")
	printFlags(w, c.fs, c.aliases, globalNames)
	fmt.Fprintf(w, "\nGlobal options:\n")
	printFlags(w, c.fs, nil, func(name string) bool { return !globalNames(name) })
}

// printFlags lists the options of fs, but those skip says to leave out and
// one-letter aliases (shown with their long name).
func printFlags(w io.Writer, fs *flag.FlagSet, aliases map[string]string, skip func(string) bool) {
	short := map[string]bool{}
	for _, s := range aliases {
		short[s] = true
	}
	type line struct{ name, text string }
	var lines []line
	fs.VisitAll(func(f *flag.Flag) {
		if short[f.Name] || skip(f.Name) {
			return
		}
		name := "--" + f.Name
		if s := aliases[f.Name]; s != "" {
			name = "-" + s + ", " + name
		}
		if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); !isBool {
			name += " value"
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
			def = fmt.Sprintf(" (default %q)", f.DefValue)
		}
		lines = append(lines, line{f.Name, fmt.Sprintf("  %-28s %s%s", name, f.Usage, def)})
	})
	sort.Slice(lines, func(i, j int) bool { return lines[i].name < lines[j].name })
	for _, l := range lines {
		fmt.Fprintln(w, l.text)
	}
}

// stringList is an option given once per value (--env A=1 --env B=2).
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// uintList is an option given once per value or as a comma-separated list.
type uintList []uint

func (l *uintList) String() string {
	s := make([]string, len(*l))
	for i, v := range *l {
		s[i] = strconv.FormatUint(uint64(v), 10)
	}
	return strings.Join(s, ",")
}

func (l *uintList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(part), 10, 0)
		if errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("%q: out of range", part)
		}
		if err != nil {
			return fmt.Errorf("%q: not a number", part)
		}
		*l = append(*l, uint(n))
	}
	return nil
}

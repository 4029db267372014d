package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sdocker/sdocker/internal/engine"
)

// attachFlags are run's -a/--attach and --sig-proxy.
type attachFlags struct {
	streams  []string
	sigProxy bool
}

func (a *attachFlags) add(f *pflag.FlagSet) {
	f.StringArrayVarP(&a.streams, "attach", "a", nil, "attach only these of the foreground container's streams: stdin, stdout, stderr (stdin implies -i)")
	f.BoolVar(&a.sigProxy, "sig-proxy", true, "pass the signals sdocker gets to the foreground container (false: they end sdocker, and the container with it)")
}

// apply sets o's streams and signal handling from the flags: a stream -a
// does not name goes to /dev/null (stdin: not attached).
func (a *attachFlags) apply(o *engine.RunOptions) error {
	o.NoSigProxy = !a.sigProxy
	if len(a.streams) == 0 {
		return nil
	}
	if o.Detach {
		return fmt.Errorf("-a cannot be combined with -d or create: a detached container's output goes to its log")
	}
	want := map[string]bool{}
	for _, s := range a.streams {
		s = strings.ToLower(s)
		if s != "stdin" && s != "stdout" && s != "stderr" {
			return fmt.Errorf("--attach %q: want stdin, stdout or stderr", s)
		}
		want[s] = true
	}
	o.Interactive = want["stdin"]
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	if !want["stdout"] {
		o.Stdout = null
	}
	if !want["stderr"] {
		o.Stderr = null
	}
	return nil
}

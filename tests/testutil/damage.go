package testutil

import (
	"os"
	"strconv"
	"strings"
)

// Damage is one way a state file is found damaged (a crash of the file
// system, a full disk, a hand edit): Do turns its content into something
// else; a nil Do removes the file.
type Damage struct {
	Name string
	Do   func(b []byte) []byte
}

// Damages are the damages the corrupt-state tests apply to every state
// file.
var Damages = []Damage{
	{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
	{"empty", func([]byte) []byte { return nil }},
	{"garbage", func([]byte) []byte { return []byte("\x7fELF\x00\x13garbage\xff") }},
	{"null", func([]byte) []byte { return []byte("null") }},
	{"array", func([]byte) []byte { return []byte("[1, 2]") }},
	{"missing", nil},
}

// Apply damages the file at path.
func (d Damage) Apply(path string) error {
	if d.Do == nil {
		return os.Remove(path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, d.Do(b), 0o600)
}

// WithID puts id in args where "ID" stands, else at the end.
func WithID(args []string, id string) []string {
	var out []string
	placed := false
	for _, a := range args {
		if a == "ID" {
			a, placed = id, true
		}
		out = append(out, a)
	}
	if !placed {
		out = append(out, id)
	}
	return out
}

// RefusalProblem says what is wrong with how a command refused a damaged
// state: it must exit non-zero with one line of error that contains want,
// and no Go stack. It is "" when all is well.
func RefusalProblem(code int, stderr, want string) string {
	msg := strings.TrimSpace(stderr)
	switch {
	case code == 0:
		return "exit 0"
	case strings.Contains(msg, "goroutine ") || strings.Contains(msg, "panic"):
		return "a Go stack"
	case strings.Contains(msg, "\n"):
		return "more than one line of error"
	case !strings.Contains(msg, want):
		return "the error does not say " + strconv.Quote(want)
	}
	return ""
}

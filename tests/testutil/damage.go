package testutil

import "os"

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

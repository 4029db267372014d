package engine

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseDetachKeys(t *testing.T) {
	for in, want := range map[string][]byte{
		"":              {16, 17},
		"ctrl-p,ctrl-q": {16, 17},
		"ctrl-a":        {1},
		"ctrl-z,x":      {26, 'x'},
		"ctrl-@,ctrl-[": {0, 27},
		`ctrl-\,ctrl-_`: {28, 31},
		"q":             {'q'},
	} {
		got, err := ParseDetachKeys(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("ParseDetachKeys(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"ctrl-", "ctrl-1", "ctrl-A", "ab", ",", "ctrl-p,", "alt-x", "ctrl-pp"} {
		if _, err := ParseDetachKeys(bad); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("ParseDetachKeys(%q): err %v, want ErrInvalidInput", bad, err)
		}
	}
}

func TestDetachMatcher(t *testing.T) {
	for _, tc := range []struct {
		reads [][]byte
		want  bool
	}{
		{[][]byte{{16, 17}}, true},
		{[][]byte{{'a', 16}, {17}}, true},
		{[][]byte{{16, 16, 17}}, true},
		{[][]byte{{16, 'x', 17}}, false},
		{[][]byte{{17, 16}}, false},
		{[][]byte{[]byte("hello\n")}, false},
	} {
		m := &detachMatcher{keys: []byte{16, 17}}
		got := false
		for _, r := range tc.reads {
			got = got || m.feed(r)
		}
		if got != tc.want {
			t.Errorf("%v: detached %v, want %v", tc.reads, got, tc.want)
		}
	}
}

// TestDetachMatcherFilter: what is not the detach sequence goes on, the
// keys that may begin it once what follows tells.
func TestDetachMatcherFilter(t *testing.T) {
	for _, tc := range []struct {
		reads [][]byte
		out   string
		held  string
		done  bool
	}{
		{[][]byte{[]byte("hi\n")}, "hi\n", "", false},
		{[][]byte{{'a', 16}, {17}}, "a", "", true},
		{[][]byte{{'a', 16}}, "a", "\x10", false},
		{[][]byte{{'a', 16}, {'b'}}, "a\x10b", "", false},
		{[][]byte{{16, 16, 17}}, "\x10", "", true},
		{[][]byte{{'x', 16, 'y', '\n', 16, 17}}, "x\x10y\n", "", true},
	} {
		m := &detachMatcher{keys: []byte{16, 17}}
		var out []byte
		done := false
		for _, r := range tc.reads {
			o, d := m.filter(r)
			out, done = append(out, o...), d
		}
		if string(out) != tc.out || !done && string(m.held()) != tc.held || done != tc.done {
			t.Errorf("%q: out %q held %q done %v; want %q %q %v", tc.reads, out, m.held(), done, tc.out, tc.held, tc.done)
		}
	}
}

package rootless

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSubIDs(t *testing.T) {
	const file = "# comment\n\nalice:100000:65536\nbob:bad:10\nbob:200000:0\n1002:300000:1000\nbob:400000:65536\ncarol:4294967000:65536\n"
	for _, c := range []struct {
		name string
		uid  int
		want Range
		err  error
	}{
		{"alice", 1001, Range{100000, 65536}, nil},
		{"bob", 1003, Range{400000, 65536}, nil}, // malformed and empty ranges skipped
		{"dave", 1002, Range{300000, 1000}, nil}, // by uid
		{"carol", 1004, Range{}, ErrNoRange},     // past 2^32-1
		{"erin", 1005, Range{}, ErrNoRange},
	} {
		got, err := parseSubIDs(strings.NewReader(file), c.name, c.uid)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("%s: %v, %v; want %v, %v", c.name, got, err, c.want, c.err)
		}
	}
}

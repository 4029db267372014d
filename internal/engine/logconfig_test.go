package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseLogOpts(t *testing.T) {
	for _, tc := range []struct {
		opts []string
		want LogConfig
	}{
		{nil, LogConfig{DefaultLogMaxSize, DefaultLogMaxFile}},
		{[]string{"max-size=10m", "max-file=3"}, LogConfig{10 << 20, 3}},
		{[]string{"max-size=1k"}, LogConfig{1024, DefaultLogMaxFile}},
		{[]string{"max-size=-1"}, LogConfig{-1, DefaultLogMaxFile}},
		{[]string{"max-file=1"}, LogConfig{DefaultLogMaxSize, 1}},
	} {
		got, err := ParseLogOpts(tc.opts)
		if err != nil || got != tc.want {
			t.Errorf("ParseLogOpts(%q) = %+v, %v, want %+v", tc.opts, got, err, tc.want)
		}
	}
	for _, bad := range []string{"max-size=abc", "max-size=0", "max-size=-2", "max-size=", "max-file=0", "max-file=x", "max-file=-1", "compress=true", "max-size"} {
		if _, err := ParseLogOpts([]string{bad}); !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "--log-opt") {
			t.Errorf("ParseLogOpts(%q): %v, want an invalid --log-opt", bad, err)
		}
	}
}

func TestLogConfigLimits(t *testing.T) {
	for _, tc := range []struct {
		c     LogConfig
		size  int64
		files int
	}{
		{LogConfig{}, DefaultLogMaxSize, DefaultLogMaxFile}, // a record from before
		{LogConfig{-1, 3}, 0, 3},
		{LogConfig{5, 1}, 5, 1},
	} {
		if size, files := tc.c.Limits(); size != tc.size || files != tc.files {
			t.Errorf("%+v: limits %d %d, want %d %d", tc.c, size, files, tc.size, tc.files)
		}
	}
}

// TestTailStarts: the last lines of a log are taken from its rotated files
// too, the newest first, and no further back than needed.
func TestTailStarts(t *testing.T) {
	dir := t.TempDir()
	var files []*os.File
	for i, data := range []string{"a\nb\n", "c\nd\ne\n", "f\n"} { // the oldest first
		p := filepath.Join(dir, string(rune('0'+i)))
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	for _, tc := range []struct {
		tail int
		want []int64
	}{
		{-1, []int64{0, 0, 0}},
		{0, []int64{4, 6, 2}},
		{1, []int64{4, 6, 0}},
		{2, []int64{4, 4, 0}},
		{4, []int64{4, 0, 0}},
		{5, []int64{2, 0, 0}},
		{100, []int64{0, 0, 0}},
	} {
		got, err := tailStarts(files, tc.tail)
		if err != nil || len(got) != 3 || got[0] != tc.want[0] || got[1] != tc.want[1] || got[2] != tc.want[2] {
			t.Errorf("tail %d: starts %v, %v, want %v", tc.tail, got, err, tc.want)
		}
	}
}

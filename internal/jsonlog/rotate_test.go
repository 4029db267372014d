package jsonlog_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/jsonlog"
)

// writeLog opens a log at path, rotated at max bytes over files files,
// and writes the lines "0".."n-1" to it; it returns the descriptor.
func writeLog(t *testing.T, path string, max int64, files, n int) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w := jsonlog.NewWriter(int(f.Fd()))
	w.Rotate(path, max, files)
	ts := time.Unix(0, 0)
	for i := range n {
		if err := w.Write([]byte(fmt.Sprintf("%d\n", i)), "stdout", ts); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// entryLen is the length of the entry of line "i\n" with one digit.
var entryLen = int64(len(jsonlog.Append(nil, []byte("0\n"), "stdout", time.Unix(0, 0))))

func texts(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return "-"
	}
	var out []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if l != "" {
			out = append(out, l[len(`{"log":"`):strings.Index(l, `\n"`)])
		}
	}
	return strings.Join(out, ",")
}

// TestRotate: a log is rotated before an entry would take it past its
// size; the oldest file goes; the descriptor writes to the new file.
func TestRotate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "log")
	f := writeLog(t, p, 3*entryLen, 3, 10)
	got := []string{texts(t, p+".2"), texts(t, p+".1"), texts(t, p), texts(t, p+".3")}
	want := []string{"3,4,5", "6,7,8", "9", "-"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("files %q, want %q", got, want)
	}
	if _, err := f.Write([]byte("x\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); !strings.HasSuffix(string(b), "}\nx\n") {
		t.Errorf("the descriptor does not write to the new log: %q", b)
	}
	var st1, st2 unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st1) != nil || unix.Stat(p, &st2) != nil || st1.Ino != st2.Ino {
		t.Errorf("descriptor on inode %d, log %d", st1.Ino, st2.Ino)
	}
}

// TestRotateOneFile: with one file the log is emptied instead.
func TestRotateOneFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	writeLog(t, p, 2*entryLen, 1, 5)
	if got := texts(t, p); got != "4" {
		t.Errorf("log %q, want 4", got)
	}
	if _, err := os.Stat(p + ".1"); err == nil {
		t.Errorf("%s.1 made with one file", p)
	}
}

// TestRotateBigEntry: an entry longer than the size goes alone in a file.
func TestRotateBigEntry(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	writeLog(t, p, entryLen/2, 2, 3)
	if got := texts(t, p+".1") + " " + texts(t, p); got != "1 2" {
		t.Errorf("files %q, want 1 2", got)
	}
}

// TestNoRotate: without Rotate the log grows.
func TestNoRotate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	writeLog(t, p, 0, 0, 5)
	if got := texts(t, p); got != "0,1,2,3,4" {
		t.Errorf("log %q", got)
	}
}

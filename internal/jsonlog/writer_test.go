package jsonlog_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/jsonlog"
)

// smallFS mounts a tmpfs of size bytes on a temporary directory.
func smallFS(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skip("cannot mount a tmpfs: ", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// fill takes every free block of dir's file system; remove frees them.
func fill(t *testing.T, dir string) (remove func()) {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for err == nil {
		_, err = f.Write(make([]byte, 4096))
	}
	return func() { os.Remove(p) }
}

// entries reads the log at p: the entries, and the lines that are not one.
func entries(t *testing.T, p string) (ents []map[string]string, broken []string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Errorf("the log ends in a broken line: %q", b[max(0, len(b)-80):])
	}
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var e map[string]string
		if err := json.Unmarshal(l, &e); err != nil {
			broken = append(broken, string(l))
			continue
		}
		ents = append(ents, e)
	}
	return ents, broken
}

// TestWriterFull: while the disk is full no entry is written in part, the
// output dropped is counted, and the first entry written once there is
// space again follows a marker saying how much was lost.
func TestWriterFull(t *testing.T) {
	dir := smallFS(t, "64k")
	p := filepath.Join(dir, "log")
	// A line a killed writer left unfinished: the next entry starts a line.
	if err := os.WriteFile(p, []byte(`{"log":"cut`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := jsonlog.NewWriter(int(f.Fd()))
	now := time.Now()
	if err := w.Write([]byte("first\n"), "stdout", now); err != nil {
		t.Fatal(err)
	}
	free := fill(t, dir)
	st, _ := f.Stat()
	// An entry longer than what is left of the log's last page: written in
	// part, then cut off again.
	long := strings.Repeat("x", 6000) + "\n"
	lost := 0
	for _, text := range []string{long, long + long} {
		if err := w.Write([]byte(text), "stdout", now); !errors.Is(err, unix.ENOSPC) {
			t.Errorf("write on a full disk: %v, want ENOSPC", err)
		}
		lost += len(text)
	}
	if st2, _ := f.Stat(); st2.Size() > st.Size()+200 {
		t.Errorf("the log grew from %d to %d bytes on a full disk", st.Size(), st2.Size())
	}
	if n, why := w.Lost(); n == 0 || why != unix.ENOSPC {
		t.Errorf("lost %d (%v), want some (ENOSPC)", n, why)
	}
	free()
	if err := w.Write([]byte("again\n"), "stderr", now); err != nil {
		t.Fatal(err)
	}
	got, broken := entries(t, p)
	if len(broken) != 1 || broken[0] != `{"log":"cut`+"\n" {
		t.Errorf("broken lines %q, want only the one that was there", broken)
	}
	// What did not fit is marked: at once while a marker fits in what
	// the log's last block has left, else once there is space again.
	var texts []string
	marked := 0
	for _, e := range got {
		texts = append(texts, e["stream"]+":"+e["log"])
		var n int
		if _, err := fmt.Sscanf(e["log"], "[sdocker] %d bytes of output lost: no space left on device\n", &n); err == nil && e["stream"] == "stderr" {
			marked += n
		}
	}
	if len(texts) < 3 || texts[0] != "stdout:first\n" || texts[len(texts)-1] != "stderr:again\n" || marked != lost {
		t.Errorf("entries %q: %d bytes marked lost, want %d between first and again", texts, marked, lost)
	}
	if n, _ := w.Lost(); n != 0 {
		t.Errorf("%d bytes still counted lost after the marker", n)
	}
}

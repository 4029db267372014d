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

// TestWriterCutNotTruncated: an entry written in part to a log that cannot
// be truncated back (here a pipe, full) stays cut off on a line of its
// own: the marker of what was lost and the next entry start new lines, so
// that every line after the cut one is an entry.
func TestWriterCutNotTruncated(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	r, wfd := os.NewFile(uintptr(p[0]), "r"), p[1]
	defer r.Close()
	defer unix.Close(wfd)
	size, err := unix.FcntlInt(uintptr(wfd), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := jsonlog.NewWriter(wfd)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	big := []byte(strings.Repeat("x", size) + "\n") // more than the pipe holds
	if err := w.Write(big, "stdout", at); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("Write of more than the pipe holds: %v; want EAGAIN", err)
	}
	if lost, why := w.Lost(); lost != int64(len(big)) || why != unix.EAGAIN {
		t.Errorf("Lost() = %d, %v; want %d, EAGAIN", lost, why, len(big))
	}
	cut := make([]byte, size)
	if n, err := r.Read(cut); err != nil || n != size {
		t.Fatalf("read the cut entry: %d, %v", n, err)
	}
	if err := w.Write([]byte("next\n"), "stderr", at); err != nil {
		t.Fatal(err)
	}
	rest := make([]byte, 4096)
	n, err := r.Read(rest)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(rest[:n]), "\n")
	if len(lines) != 4 || lines[0] != "\n" || lines[3] != "" {
		t.Fatalf("after the cut entry: %q; want a newline, the marker and the entry", rest[:n])
	}
	var marker, next map[string]string
	if err := json.Unmarshal([]byte(lines[1]), &marker); err != nil || marker["log"] != string(jsonlog.LostText(int64(len(big)), unix.EAGAIN)) || marker["stream"] != "stderr" {
		t.Errorf("marker %q: %v; want the lost output counted", lines[1], err)
	}
	if err := json.Unmarshal([]byte(lines[2]), &next); err != nil || next["log"] != "next\n" || next["stream"] != "stderr" {
		t.Errorf("entry %q: %v", lines[2], err)
	}
}

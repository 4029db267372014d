package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/jsonlog"
)

// TestWatch runs a shell as the "init": its output is logged as the engine
// logs it (lines, 16 KiB chunks, the last partial line) and its wait status
// comes back.
func TestWatch(t *testing.T) {
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	long := strings.Repeat("x", 2*chunk+100)
	cmd := exec.Command("sh", "-c", `printf 'one\n<two>\n'; echo err >&2; printf '%s\n' "$LONG"; printf 'last'; exit 3`)
	cmd.Env = []string{"LONG=" + long, "PATH=/usr/bin:/bin"}
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		t.Skip("no sh: ", err)
	}
	outW.Close()
	errW.Close()
	// The monitor owns these descriptors: dup them, as os.File closes its own.
	dup := func(f *os.File) int {
		fd, err := unix.Dup(int(f.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		return fd
	}
	m := &monitor{pid: cmd.Process.Pid, log: jsonlog.NewWriter(int(logf.Fd()))}
	m.add(dup(outR), "stdout")
	m.add(dup(errR), "stderr")
	ws := unix.WaitStatus(m.watch())
	if !ws.Exited() || ws.ExitStatus() != 3 {
		t.Errorf("wait status %#x, want exit 3", int(ws))
	}
	b, err := os.ReadFile(logf.Name())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var e struct{ Log, Stream, Time string }
		if err := json.Unmarshal(l, &e); err != nil || e.Time == "" {
			t.Fatalf("log line %q: %v", l, err)
		}
		got = append(got, e.Stream+":"+e.Log)
	}
	want := []string{"stdout:one\n", "stdout:<two>\n", "stdout:" + long[:chunk], "stdout:" + long[:chunk],
		"stdout:" + long[:100] + "\n", "stdout:last"}
	var stdout []string
	stderr := 0
	for _, g := range got {
		if g == "stderr:err\n" {
			stderr++
		} else {
			stdout = append(stdout, g)
		}
	}
	if stderr != 1 || strings.Join(stdout, "|") != strings.Join(want, "|") {
		t.Errorf("log entries %q", got)
	}
}

func TestRunBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"sdocker-monitor"},
		{"sdocker-monitor", "x", "3", "4", "5", "/bin/true", "a"},
		{"sdocker-monitor", "1", "3", "4", "-5", "/bin/true", "a"},
	} {
		if err := run(args); err == nil {
			t.Errorf("run(%q): no error", args)
		}
	}
}

func TestParseRotate(t *testing.T) {
	size, files, path, err := parseRotate("10485760,3,/var/lib/a,b/container-json.log")
	if err != nil || size != 10485760 || files != 3 || path != "/var/lib/a,b/container-json.log" {
		t.Errorf("parseRotate: %d %d %q %v", size, files, path, err)
	}
	for _, bad := range []string{"", "1", "1,2", "1,2,", "x,2,/p", "1,x,/p", "0,2,/p", "1,0,/p", "-1,2,/p"} {
		if _, _, _, err := parseRotate(bad); err == nil {
			t.Errorf("parseRotate(%q) accepted", bad)
		}
	}
	if err := run([]string{"sdocker-monitor", "--log-rotate=abc"}); err == nil || !strings.Contains(err.Error(), "--log-rotate=abc") {
		t.Errorf("run with a bad --log-rotate: %v", err)
	}
}

func TestParseAttach(t *testing.T) {
	for v, want := range map[string][3]int{"6,16,-": {6, 16, 0}, "6,-1,once": {6, -1, 1}} {
		lfd, in, once, err := parseAttach(v)
		if err != nil || lfd != want[0] || in != want[1] || once != (want[2] == 1) {
			t.Errorf("parseAttach(%q): %d %d %v %v", v, lfd, in, once, err)
		}
	}
	for _, bad := range []string{"", "6", "6,7", "6,7,", "6,7,x", "x,7,-", "6,x,-", "-1,7,-", "6,-2,-", "6,7,-,8"} {
		if _, _, _, err := parseAttach(bad); err == nil {
			t.Errorf("parseAttach(%q) accepted", bad)
		}
	}
	if err := run([]string{"sdocker-monitor", "--log-rotate=1,1,/p", "--attach=abc"}); err == nil || !strings.Contains(err.Error(), "--attach=abc") {
		t.Errorf("run with a bad --attach: %v", err)
	}
}

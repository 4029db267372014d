package main

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// build compiles this command static (CGO_ENABLED=0) into a temp dir.
func build(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	bin := filepath.Join(t.TempDir(), "cpu-test")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("cpu-test is not static")
		}
	}
	return bin
}

func TestBurnsCPU(t *testing.T) {
	bin := build(t)
	cmd := exec.Command(bin)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal(err)
	}
	if line != "[+] cpu-test: burning one cpu\n" {
		t.Errorf("first line %q", line)
	}
	start := time.Now()
	time.Sleep(300 * time.Millisecond)
	// On a busy machine the loop may get less than its share for a while:
	// give it up to 3 s more to show 150 ms of CPU time.
	for cpuTime(cmd.Process.Pid) < 150*time.Millisecond && time.Since(start) < 3300*time.Millisecond {
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	wall := time.Since(start)
	user, sys := cmd.ProcessState.UserTime(), cmd.ProcessState.SystemTime()
	t.Logf("over %v: user %v, system %v", wall.Round(time.Millisecond), user, sys)
	if user < 150*time.Millisecond {
		t.Errorf("user time %v, want > 150ms: not burning a cpu", user)
	}
	// One goroutine burns one CPU, not more (plus a little runtime work).
	if user+sys > wall+wall/5+50*time.Millisecond {
		t.Errorf("cpu time %v over %v: more than one cpu", user+sys, wall)
	}
}

// cpuTime returns the user+system time of a running process from
// /proc/PID/stat (0 when unknown).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the line, 12 and 13 after the name.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

func TestHelp(t *testing.T) {
	bin := build(t)
	out, err := exec.Command(bin, "--help").Output()
	if err != nil || !strings.HasPrefix(string(out), "usage: cpu-test") {
		t.Errorf("--help: %v %q", err, out)
	}
	err = exec.Command(bin, "bogus").Run()
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("bad argument: %v, want exit status 2", err)
	}
}

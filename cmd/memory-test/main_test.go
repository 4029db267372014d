package main

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// build compiles this command static (CGO_ENABLED=0) into a temp dir.
func build(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	bin := filepath.Join(t.TempDir(), "memory-test")
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
			t.Fatal("memory-test is not static")
		}
	}
	return bin
}

func TestSteps(t *testing.T) {
	bin := build(t)
	cmd := exec.Command(bin, "5")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("memory-test 5: %v", err)
	}
	var want strings.Builder
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(&want, "[+] malloc size: %d\n", i<<20)
	}
	if string(out) != want.String() {
		t.Errorf("output:\n%s\nwant:\n%s", out, want.String())
	}
	// The memory was really touched: max RSS covers the 5 MiB.
	if rss := maxRSS(cmd); rss > 0 && rss < 5<<20 {
		t.Errorf("max RSS %d bytes, want >= 5 MiB: pages not touched", rss)
	}

	out, err = exec.Command(bin, "0").Output()
	if err != nil || len(out) != 0 {
		t.Errorf("memory-test 0: %v %q", err, out)
	}
}

func TestArgs(t *testing.T) {
	bin := build(t)
	out, err := exec.Command(bin, "-h").Output()
	if err != nil || !strings.HasPrefix(string(out), "usage: memory-test [STEPS]") {
		t.Errorf("-h: %v %q", err, out)
	}
	for _, args := range [][]string{{"x"}, {"-1"}, {"1", "2"}} {
		err := exec.Command(bin, args...).Run()
		if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("memory-test %q: %v, want exit status 2", args, err)
		}
	}
}

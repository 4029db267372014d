package launch

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSealedCallsNothingPreemptible: the code that runs between the seccomp
// filter and execve (see sealForExec) is nosplit and calls nothing but raw
// system calls, itself and the runtime's panics (a bounds check that
// cannot fail): no function the scheduler could preempt, nothing that
// allocates. Read from the init's machine code.
func TestSealedCallsNothingPreemptible(t *testing.T) {
	// (go test strips its binaries: the init is built, as make builds it
	// but with symbols.)
	exe := filepath.Join(t.TempDir(), "sdocker-init")
	build := exec.Command("go", "build", "-trimpath", "-o", exe, "../../cmd/sdocker-init")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	funcs := `launch\.(\(\*privileges\)\.applyRaw|\(\*userSwitch\)\.applyRaw|readIDs|sameIDs|prctl|capSet\.has|\(\*filterProg\)\.install|\(\*execArgs\)\.execve|\(\*sealedFailures\)\.exit)$`
	out, err := exec.Command("go", "tool", "objdump", "-s", funcs, exe).CombinedOutput()
	if err != nil {
		t.Skipf("go tool objdump: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "racefuncenter") {
		t.Skip("built with -race: the race detector's calls are everywhere")
	}
	allowed := regexp.MustCompile(`CALL (golang\.org/x/sys/unix\.RawSyscall6?\.abi0|syscall\.RawSyscall6?|` +
		`github\.com/sdocker/sdocker/internal/launch\.(\(\*userSwitch\)\.applyRaw|readIDs|sameIDs|prctl|capSet\.has)|runtime\.panic\w+)\(SB\)`)
	var fn string
	seen := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if f, ok := strings.CutPrefix(line, "TEXT "); ok {
			fn = strings.TrimSuffix(strings.Fields(f)[0], "(SB)")
			seen[fn] = true
			continue
		}
		if strings.Contains(line, "morestack") {
			t.Errorf("%s checks its stack: it can be preempted (not nosplit)\n%s", fn, line)
		}
		if strings.Contains(line, "CALL ") && !allowed.MatchString(line) {
			t.Errorf("%s calls what it must not:\n%s", fn, strings.TrimSpace(line))
		}
	}
	for _, want := range []string{"(*privileges).applyRaw", "(*userSwitch).applyRaw", "readIDs"} {
		if !seen["github.com/sdocker/sdocker/internal/launch."+want] {
			t.Errorf("%s not found in %s: the test reads nothing", want, exe)
		}
	}
	checkFilterFirst(t, exe)
}

// checkFilterFirst: in filterFirst (no no_new_privs), a step of applyRaw
// that fails under the filter goes straight to the sealed exit, whatever it
// is (a mismatch of the ids read back included), never to Go code that
// words an error.
func checkFilterFirst(t *testing.T, exe string) {
	out, err := exec.Command("go", "tool", "objdump", "-s", `launch\.filterFirst$`, exe).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool objdump: %v\n%s", err, out)
	}
	var calls []string
	for _, line := range strings.Split(string(out), "\n") {
		if _, after, ok := strings.Cut(line, "CALL "); ok {
			calls = append(calls, strings.Fields(after)[0])
		}
	}
	apply := -1
	for i, c := range calls {
		if strings.Contains(c, "(*privileges).applyRaw") {
			apply = i
		}
		if strings.Contains(c, "failure") || strings.Contains(c, "mismatch") || strings.HasPrefix(c, "fmt.") {
			t.Errorf("filterFirst calls %s", c)
		}
	}
	if apply < 0 || apply+1 >= len(calls) || !strings.Contains(calls[apply+1], "(*sealedFailures).exit") {
		t.Errorf("in filterFirst applyRaw is not followed by the sealed exit: %v", calls)
	}
}

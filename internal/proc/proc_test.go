package proc

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// startTree starts `sh` with two background sleeps (one of them in a
// sub-shell, a grandchild) and returns it with the sleeps' pids.
func startTree(t *testing.T) (*exec.Cmd, []int) {
	t.Helper()
	cmd := exec.Command("sh", "-c", `sleep 100 & echo $!; (sleep 100 & echo $!; wait) & wait`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	t.Cleanup(func() {
		// The sleeps first: the shells reap them and end (an orphan
		// would go to a pid 1 that may never reap it).
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		if len(pids) < 2 {
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for len(pids) < 2 && sc.Scan() {
		pid, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	if len(pids) != 2 {
		t.Fatalf("read %v from the shell: %v", pids, sc.Err())
	}
	return cmd, pids
}

func TestFamily(t *testing.T) {
	sh, sleeps := startTree(t)
	other, _ := startTree(t)
	init, start := sh.Process.Pid, StartTime(sh.Process.Pid)
	all := append([]int{init, other.Process.Pid, os.Getpid(), 1}, sleeps...)

	got := Family(all, init, start)
	want := append([]int{init}, sleeps...)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Family(%v, %d) = %v, want %v", all, init, got, want)
	}
	if p, err := Parent(sleeps[0]); err != nil || p != init {
		t.Errorf("Parent(%d) = %d, %v; want %d", sleeps[0], p, err, init)
	}
	if PidNamespace(init) == 0 || PidNamespace(init) != PidNamespace(os.Getpid()) {
		t.Errorf("PidNamespace(%d) = %d, ours %d", init, PidNamespace(init), PidNamespace(os.Getpid()))
	}
	// Another process under the init's pid (start time differs): nobody's.
	if got := Family(all, init, start+1); len(got) != 0 {
		t.Errorf("Family with a wrong start time = %v, want none", got)
	}
}

package oci

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/tests/testutil"
)

// --version prints the version of the runtime spec it implements.
func TestVersion(t *testing.T) {
	requireRoot(t)
	r := rtWith(t, runOpts{noRoot: true}, "--version")
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	m := regexp.MustCompile(`(?m)^spec: (1\.\d+\.\d+\S*)$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("--version does not print a line `spec: 1.x.y`:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "version") {
		t.Errorf("--version does not print the runtime's version:\n%s", r.stdout)
	}
	// The spec version it prints is the one `spec` writes.
	var s specs.Spec
	json.Unmarshal(baseSpecJSON, &s)
	if s.Version != m[1] {
		t.Errorf("--version prints spec %s, `spec` writes ociVersion %s", m[1], s.Version)
	}
}

// create, start, state, kill, delete: the whole life of a container, with
// the flag forms containerd and podman use (--flag value, --flag=value).
func TestLifecycle(t *testing.T) {
	b := newBundle(t)
	b.long()
	b.spec.Annotations = map[string]string{"org.example.test": "lifecycle"}
	pidFile := filepath.Join(b.dir, "init.pid")
	b.mustCreate("--pid-file", pidFile)

	st := b.state()
	if st.Status != "created" {
		t.Errorf("status after create = %q, want created", st.Status)
	}
	if st.ID != b.id {
		t.Errorf("state id = %q, want %q", st.ID, b.id)
	}
	if st.Bundle != b.dir {
		t.Errorf("state bundle = %q, want %q", st.Bundle, b.dir)
	}
	if !strings.HasPrefix(st.OCIVersion, "1.") {
		t.Errorf("state ociVersion = %q", st.OCIVersion)
	}
	if st.Annotations["org.example.test"] != "lifecycle" {
		t.Errorf("state annotations = %v, want the config's", st.Annotations)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("--pid-file: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if pid <= 0 || pid != st.Pid {
		t.Errorf("pid file has %q, state pid is %d", data, st.Pid)
	}
	if !testutil.ProcessRunning(pid) {
		t.Errorf("init %d of a created container is not running", pid)
	}
	// The process has not run yet.
	time.Sleep(200 * time.Millisecond)
	if out := b.output(); strings.Contains(out, "ready") {
		t.Errorf("the container's process ran before start: %q", out)
	}

	b.start()
	b.waitOutput("ready")
	if st := b.state(); st.Status != "running" || st.Pid != pid {
		t.Errorf("after start: status %q pid %d, want running %d", st.Status, st.Pid, pid)
	}

	mustRT(t, "kill", b.id, "KILL")
	st = b.waitStatus("stopped")
	waitGone(pid, 10*time.Second)

	mustRT(t, "delete", b.id)
	if r := rt(t, "state", b.id); r.code == 0 {
		t.Errorf("state after delete succeeded:\n%v", r)
	}
	if dirs := testutil.CgroupDirs(b.cgPath); len(dirs) > 0 {
		t.Errorf("cgroups left after delete: %v", dirs)
	}
}

// --flag=value forms, and create without --bundle from the bundle directory.
func TestFlagForms(t *testing.T) {
	b := newBundle(t)
	b.long()
	b.save()
	pidFile := filepath.Join(b.dir, "p.pid")
	r := b.withFiles(runOpts{}, "create", "--bundle="+b.dir, "--pid-file="+pidFile, b.id)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	st := b.state()
	b.addPids(st.Pid)
	if data, _ := os.ReadFile(pidFile); strings.TrimSpace(string(data)) != strconv.Itoa(st.Pid) {
		t.Errorf("--pid-file=: file has %q, state pid %d", data, st.Pid)
	}
	if st.Bundle != b.dir {
		t.Errorf("--bundle=: state bundle %q, want %q", st.Bundle, b.dir)
	}
	mustRT(t, "start", b.id)
	b.waitOutput("ready")
	mustRT(t, "delete", "--force="+"true", b.id)
	if r := rt(t, "state", b.id); r.code == 0 {
		t.Errorf("state after delete --force=true succeeded")
	}

	// The log flags in the = form.
	logFile := filepath.Join(b.dir, "log.json")
	r = rt(t, "--log="+logFile, "--log-format=json", "state", "no-such-container")
	if r.code == 0 {
		t.Errorf("state of an unknown container succeeded")
	}
	if _, ok := jsonErrorLine(t, logFile); !ok {
		t.Errorf("--log= --log-format=json: no error line in the log")
	}
}

// kill takes a signal as a name, a SIG name or a number, and SIGTERM by default.
func TestKillSignalForms(t *testing.T) {
	for _, sig := range []string{"KILL", "SIGKILL", "9", ""} {
		name := sig
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			b := newBundle(t)
			// pid 1 of a namespace ignores signals it has no handler for:
			// give it one for TERM.
			b.sh("trap 'exit 0' TERM; echo ready; while :; do sleep 1; done")
			b.createStart()
			pid := b.state().Pid
			args := []string{"kill", b.id}
			if sig != "" {
				args = append(args, sig)
			}
			mustRT(t, args...)
			b.waitStatus("stopped")
			waitGone(pid, 10*time.Second)
		})
	}
}

// kill --all signals every process of the container, not only its init.
func TestKillAll(t *testing.T) {
	b := newBundle(t)
	b.sh("sleep 1000 & sleep 1001 & echo ready; while :; do sleep 1; done")
	b.createStart()
	pids := testutil.CgroupProcs(b.cgPath)
	if len(pids) < 3 {
		t.Fatalf("want init and two sleeps in the cgroup, got %v", pids)
	}
	b.addPids(pids...)
	mustRT(t, "kill", "--all", b.id, "KILL")
	testutil.WaitFor(t, pollTimeout, "every process of the container to end", func() bool {
		for _, p := range pids {
			if !waitGone(p, 0) {
				return false
			}
		}
		return true
	})
	b.waitStatus("stopped")
}

// run in the foreground gives the container's output and exit status.
func TestRunForeground(t *testing.T) {
	b := newBundle(t)
	b.sh("echo out-line; echo err-line >&2; exit 7")
	r := b.run()
	if r.code != 7 {
		t.Errorf("exit status %d, want 7\n%v", r.code, r)
	}
	if strings.TrimSpace(r.stdout) != "out-line" || !strings.Contains(r.stderr, "err-line") {
		t.Errorf("output not passed through:\n%v", r)
	}
	// run deletes what it made.
	if rr := rt(t, "state", b.id); rr.code == 0 {
		t.Errorf("container still exists after run:\n%v", rr)
	}
	if dirs := testutil.CgroupDirs(b.cgPath); len(dirs) > 0 {
		t.Errorf("cgroups left after run: %v", dirs)
	}
}

// run --detach --pid-file returns with the container running.
func TestRunDetach(t *testing.T) {
	b := newBundle(t)
	b.long()
	b.save()
	pidFile := filepath.Join(b.dir, "run.pid")
	r := b.withFiles(runOpts{}, "run", "--detach", "--pid-file", pidFile, "--bundle", b.dir, b.id)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	st := b.state()
	b.addPids(st.Pid)
	if st.Status != "running" {
		t.Errorf("status after run --detach = %q, want running", st.Status)
	}
	data, _ := os.ReadFile(pidFile)
	if strings.TrimSpace(string(data)) != strconv.Itoa(st.Pid) {
		t.Errorf("pid file %q, state pid %d", data, st.Pid)
	}
	b.waitOutput("ready")
}

// Lifecycle errors: start twice, delete a running container without
// --force, exec into a stopped one, anything on an unknown id. Each exits
// non-zero with a message.
func TestLifecycleErrors(t *testing.T) {
	b := newBundle(t)
	b.long()
	b.createStart()
	pid := b.state().Pid

	failing := func(what string, args ...string) {
		t.Helper()
		r := rt(t, args...)
		if r.code == 0 {
			t.Errorf("%s: succeeded\n%v", what, r)
		} else if strings.TrimSpace(r.stderr) == "" {
			t.Errorf("%s: exit %d without a message on stderr", what, r.code)
		}
	}
	failing("start twice", "start", b.id)
	failing("delete of a running container without --force", "delete", b.id)
	if st := b.state(); st.Status != "running" {
		t.Errorf("after a refused delete the container is %q", st.Status)
	}

	mustRT(t, "kill", b.id, "KILL")
	b.waitStatus("stopped")
	waitGone(pid, 10*time.Second)
	failing("exec into a stopped container", "exec", b.id, "true")
	failing("start of a stopped container", "start", b.id)
	failing("pause of a stopped container", "pause", b.id)
	failing("kill of a stopped container", "kill", b.id, "KILL")

	const unknown = "no-such-container-here"
	for _, args := range [][]string{
		{"start", unknown}, {"state", unknown}, {"kill", unknown, "KILL"}, {"delete", unknown},
		{"exec", unknown, "true"}, {"pause", unknown}, {"resume", unknown}, {"ps", unknown},
		{"events", "--stats", unknown}, {"update", "--pids-limit", "10", unknown},
	} {
		failing(args[0]+" of an unknown id", args...)
	}
	// delete --force of what does not exist is not an error (containerd
	// relies on it).
	mustRT(t, "delete", "--force", unknown)
}

// A second create with an id in use fails and leaves the first alone.
func TestCreateDuplicateID(t *testing.T) {
	b := newBundle(t)
	b.long()
	b.createStart()
	r := b.create()
	if r.code == 0 {
		t.Fatalf("a second create with id %s succeeded", b.id)
	}
	if st := b.state(); st.Status != "running" {
		t.Errorf("the first container is %q after a refused duplicate", st.Status)
	}
}

// --log FILE --log-format json: an error is a JSON line with level "error"
// and a msg.
func TestLogJSON(t *testing.T) {
	requireRoot(t)
	logFile := filepath.Join(t.TempDir(), "runtime.log")
	r := rt(t, "--log", logFile, "--log-format", "json", "start", "no-such-container")
	if r.code == 0 {
		t.Fatalf("start of an unknown container succeeded")
	}
	line, ok := jsonErrorLine(t, logFile)
	if !ok {
		data, _ := os.ReadFile(logFile)
		t.Fatalf("no JSON line with level error in %s:\n%s", logFile, data)
	}
	if !strings.Contains(line["msg"].(string), "no-such-container") && !strings.Contains(strings.ToLower(line["msg"].(string)), "not exist") {
		t.Errorf("the error says neither the id nor that it does not exist: %q", line["msg"])
	}
}

// jsonErrorLine returns the first line of a JSON log with level error and
// a non-empty msg. Every line must be JSON.
func jsonErrorLine(t *testing.T, logFile string) (map[string]any, bool) {
	t.Helper()
	f, err := os.Open(logFile)
	if err != nil {
		t.Errorf("log file: %v", err)
		return nil, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var found map[string]any
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Errorf("log line is not JSON: %q", sc.Text())
			continue
		}
		if msg, _ := m["msg"].(string); m["level"] == "error" && msg != "" && found == nil {
			found = m
		}
	}
	return found, found != nil
}

// A created container can be killed, or deleted without --force (its
// process never runs).
func TestCreatedContainer(t *testing.T) {
	t.Run("kill", func(t *testing.T) {
		b := newBundle(t)
		b.long()
		b.mustCreate()
		pid := b.state().Pid
		mustRT(t, "kill", b.id, "KILL")
		b.waitStatus("stopped")
		waitGone(pid, pollTimeout)
		mustRT(t, "delete", b.id)
		if strings.Contains(b.output(), "ready") {
			t.Errorf("the process of a container killed before start ran")
		}
	})
	t.Run("delete", func(t *testing.T) {
		b := newBundle(t)
		b.long()
		b.mustCreate()
		pid := b.state().Pid
		mustRT(t, "delete", b.id)
		if !waitGone(pid, pollTimeout) {
			t.Errorf("the init %d of a deleted created container still runs", pid)
		}
		if r := rt(t, "state", b.id); r.code == 0 {
			t.Errorf("state after delete succeeded")
		}
		if dirs := testutil.CgroupDirs(b.cgPath); len(dirs) > 0 {
			t.Errorf("cgroups left after delete: %v", dirs)
		}
	})
}

// A container that stops by itself is stopped; delete cleans it up.
func TestContainerExits(t *testing.T) {
	b := newBundle(t)
	b.sh("echo bye; exit 3")
	b.mustCreate()
	pid := b.state().Pid
	b.start()
	b.waitStatus("stopped")
	waitGone(pid, pollTimeout)
	if !strings.Contains(b.output(), "bye") {
		t.Errorf("the process did not run: %q", b.output())
	}
	mustRT(t, "delete", b.id)
	if dirs := testutil.CgroupDirs(b.cgPath); len(dirs) > 0 {
		t.Errorf("cgroups left after delete: %v", dirs)
	}
}

// Errors found at create: a missing executable, a terminal without a
// console socket. create fails with a message and leaves nothing.
func TestCreateErrors(t *testing.T) {
	t.Run("missing executable", func(t *testing.T) {
		b := newBundle(t)
		b.spec.Process.Args = []string{"/no/such/program"}
		pidFile := filepath.Join(b.dir, "init.pid")
		r := b.create("--pid-file", pidFile)
		if fileExists(pidFile) {
			t.Errorf("a failed create left its pid file")
		}
		if r.code == 0 {
			b.addPids(b.state().Pid)
			t.Fatalf("create with a missing executable succeeded")
		}
		if !strings.Contains(r.stderr, "/no/such/program") {
			t.Errorf("the message does not name the program: %q", r.stderr)
		}
		if st, err := b.stateErr(); err == nil && st.Status != "stopped" {
			t.Errorf("a failed create left a container %q", st.Status)
		}
	})
	t.Run("run missing executable", func(t *testing.T) {
		b := newBundle(t)
		b.spec.Process.Args = []string{"no-such-program-in-path"}
		r := b.run()
		if r.code == 0 || !strings.Contains(r.stderr, "no-such-program-in-path") {
			t.Errorf("run of a missing program: %v", r)
		}
	})
	t.Run("terminal without console socket", func(t *testing.T) {
		b := newBundle(t)
		b.spec.Process.Terminal = true
		b.long()
		r := b.create()
		if r.code == 0 {
			t.Fatalf("create with process.terminal and no --console-socket succeeded")
		}
		if strings.TrimSpace(r.stderr) == "" {
			t.Errorf("no message")
		}
	})
	t.Run("no config", func(t *testing.T) {
		requireRoot(t)
		dir := t.TempDir()
		r := rt(t, "create", "--bundle", dir, "no-config-"+strconv.Itoa(os.Getpid()))
		if r.code == 0 || !strings.Contains(r.stderr, "config.json") {
			t.Errorf("create of a bundle without config.json: %v", r)
		}
	})
	t.Run("invalid id", func(t *testing.T) {
		b := newBundle(t)
		b.long()
		b.save()
		r := rt(t, "create", "--bundle", b.dir, "../escape")
		if r.code == 0 {
			rt(t, "delete", "--force", "../escape")
			t.Fatalf("create with id ../escape succeeded")
		}
		if fileExists(filepath.Join(filepath.Dir(stateRoot), "escape")) {
			t.Errorf("create with id ../escape made a directory outside --root")
		}
	})
}

// run and exec in the foreground pass every catchable signal they get to
// the container's process (SIGQUIT and SIGUSR1 included: no goroutine dump,
// no death), which traps and prints it; SIGTERM ends it with its trap's
// status. (runc resizes its terminal on SIGWINCH and passes it on to no
// one: sdocker-runc passes it on when the process has no terminal.)
func TestRunForwardsSignals(t *testing.T) {
	sigs := []struct {
		sig  syscall.Signal
		trap string
	}{
		{unix.SIGQUIT, "QUIT"}, {unix.SIGUSR1, "USR1"}, {unix.SIGUSR2, "USR2"}, {unix.SIGHUP, "HUP"},
		{unix.SIGINT, "INT"}, {unix.SIGALRM, "ALRM"}, {unix.SIGTSTP, "TSTP"}, {unix.SIGCONT, "CONT"},
		{unix.SIGABRT, "ABRT"}, {syscall.Signal(35), "35"},
	}
	if !isRunc {
		sigs = append(sigs, struct {
			sig  syscall.Signal
			trap string
		}{unix.SIGWINCH, "WINCH"})
	}
	script := ""
	for _, s := range sigs {
		script += fmt.Sprintf("trap 'echo got-%s' %s; ", s.trap, s.trap)
	}
	script += "trap 'echo got-TERM; exit 42' TERM; echo ready; while :; do sleep 0.1; done"
	check := func(t *testing.T, b *bundle, args ...string) {
		out := filepath.Join(t.TempDir(), "out")
		outF, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		defer outF.Close()
		output := func() string { s, _ := os.ReadFile(out); return string(s) }
		cmd := exec.Command(runtimeBin, append([]string{"--root", stateRoot}, args...)...)
		cmd.Stdout, cmd.Stderr = outF, outF
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var waitErr error
		done := make(chan struct{})
		go func() {
			waitErr = cmd.Wait()
			close(done)
		}()
		defer func() {
			select {
			case <-done:
			default:
				cmd.Process.Kill()
				<-done
			}
		}()
		wait := func(s string) {
			testutil.WaitFor(t, pollTimeout, fmt.Sprintf("%q from the container", s), func() bool {
				return strings.Contains(output(), s)
			})
		}
		wait("ready\n")
		if st, err := b.stateErr(); err == nil {
			b.addPids(st.Pid)
		}
		for _, s := range sigs {
			cmd.Process.Signal(s.sig)
			wait("got-" + s.trap + "\n")
		}
		cmd.Process.Signal(unix.SIGTERM)
		select {
		case <-done:
			var ee *exec.ExitError
			if !errors.As(waitErr, &ee) || ee.ExitCode() != 42 {
				t.Errorf("%s ended with %v after SIGTERM, want exit 42 (the container's trap)\n%s", args[0], waitErr, output())
			}
		case <-time.After(pollTimeout):
			t.Fatalf("%s did not end after SIGTERM\n%s", args[0], output())
		}
		if strings.Contains(output(), "goroutine") {
			t.Errorf("a goroutine dump:\n%s", output())
		}
	}
	t.Run("run", func(t *testing.T) {
		b := newBundle(t).sh(script)
		b.save()
		check(t, b, "run", "--bundle", b.dir, b.id)
	})
	t.Run("exec", func(t *testing.T) {
		b := newBundle(t).long()
		b.createStart()
		b.waitOutput("ready")
		check(t, b, "exec", b.id, "sh", "-c", script)
	})
}

package oci

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// runcPhrase is the message of a runc error ("msg=..." in its log line),
// without the "exec failed: " runc puts before exec's and without a
// parenthetical hint: the words clients match.
func runcPhrase(stderr string) string {
	m := regexp.MustCompile(`msg="((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(stderr, -1)
	if m == nil {
		return strings.TrimSpace(stderr)
	}
	msg, err := strconv.Unquote(`"` + m[len(m)-1][1] + `"`)
	if err != nil {
		msg = m[len(m)-1][1]
	}
	msg = strings.TrimPrefix(msg, "exec failed: ")
	if i := strings.Index(msg, " ("); i > 0 {
		msg = msg[:i]
	}
	return msg
}

// TestStateErrorsInRuncWords: for each state a container can be in (none,
// created, running, paused, stopped) and each command, the runtime under
// test fails where runc fails, and its error carries runc's words
// ("container not running", "container does not exist", "container not
// paused", "cannot start a container that has stopped"...), which
// containerd's shim, podman and cri-o match to tell an exited or missing
// container from a failure.
func TestStateErrorsInRuncWords(t *testing.T) {
	requireRoot(t)
	if isRunc {
		t.Skip("compares the runtime under test with runc")
	}
	runcBin, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc is not installed")
	}
	runcOpts := runOpts{bin: runcBin, root: t.TempDir()}
	// What runc does and what it is allowed to differ in: sdocker-runc
	// neither pauses a created container nor execs in one.
	refusedByUs := map[string]bool{"created pause": true, "created exec": true}
	verbs := [][]string{{"kill", "ID", "TERM"}, {"kill", "--all", "ID", "KILL"}, {"pause", "ID"}, {"resume", "ID"},
		{"exec", "ID", "true"}, {"start", "ID"}, {"delete", "ID"}, {"update", "--pids-limit", "100", "ID"}}
	for _, state := range []string{"missing", "created", "running", "paused", "stopped"} {
		t.Run(state, func(t *testing.T) {
			b := newBundle(t)
			b.long()
			b.save()
			// The same container for both runtimes, each with its own
			// root and cgroup.
			// (A container made by create keeps the command's
			// stdout: files, not pipes.)
			ours := func(args ...string) result { return b.withFiles(runOpts{}, args...) }
			runc := func(args ...string) result { return b.withFiles(runcOpts, args...) }
			setup := func(o runOpts, cg string) {
				rt := func(args ...string) result { return b.withFiles(o, args...) }
				t.Helper()
				rt("delete", "--force", b.id)
				if state == "missing" {
					return
				}
				b.spec.Linux.CgroupsPath = cg
				b.save()
				if r := rt("create", "--bundle", b.dir, b.id); r.code != 0 {
					t.Fatalf("create: %v", r)
				}
				if state == "created" {
					return
				}
				before := strings.Count(b.output(), "ready")
				if r := rt("start", b.id); r.code != 0 {
					t.Fatalf("start: %v", r)
				}
				waitFor(t, pollTimeout, "ready", func() bool { return strings.Count(b.output(), "ready") > before })
				switch state {
				case "paused":
					if r := rt("pause", b.id); r.code != 0 {
						t.Fatalf("pause: %v", r)
					}
				case "stopped":
					rt("kill", b.id, "KILL")
					waitFor(t, pollTimeout, "stopped", func() bool {
						return regexp.MustCompile(`"status":\s*"stopped"`).MatchString(rtWith(t, o, "state", b.id).stdout)
					})
				}
			}
			runcCg := b.cgPath + "-runc"
			t.Cleanup(func() {
				runc("delete", "--force", b.id)
				removeCgroupTree(runcCg)
			})
			fresh := true
			for _, v := range verbs {
				args := make([]string, len(v))
				for i, a := range v {
					args[i] = strings.ReplaceAll(a, "ID", b.id)
				}
				// A command that succeeded changed the state: set it up
				// again for both.
				if fresh {
					setup(runcOpts, runcCg)
					setup(runOpts{}, b.cgPath)
					fresh = false
				}
				want, got := runc(args...), ours(args...)
				if want.code == 0 || got.code == 0 {
					fresh = true
				}
				key := state + " " + v[0]
				if v[1] == "--all" {
					key += " --all"
				}
				switch {
				case want.code == 0 && got.code == 0:
				case want.code == 0 && refusedByUs[key]:
					t.Logf("%s: runc does it, sdocker-runc refuses: %s", key, strings.TrimSpace(got.stderr))
				case want.code == 0:
					t.Errorf("%s: runc succeeds, the runtime fails: %v", key, got)
				case got.code == 0:
					t.Errorf("%s: runc fails (%s), the runtime succeeds", key, runcPhrase(want.stderr))
				default:
					if phrase := runcPhrase(want.stderr); !strings.Contains(got.stderr, phrase) {
						t.Errorf("%s: want runc's words %q in the error: %v", key, phrase, got)
					}
				}
			}
		})
	}
}

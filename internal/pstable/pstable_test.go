package pstable

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestFilter(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      []int
		lines     []string
	}{
		{
			name: "ps -ef",
			out: `UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root        4242       1  0 10:01 ?        00:00:00 sh -c sleep 100
root        4250    4242  0 10:01 ?        00:00:00 sleep 100
`,
			want:  []int{4242, 4250},
			lines: []string{"UID          PID    PPID  C STIME TTY          TIME CMD", "root        4242       1  0 10:01 ?        00:00:00 sh -c sleep 100", "root        4250    4242  0 10:01 ?        00:00:00 sleep 100"},
		},
		{
			// A column with spaces before PID.
			name: "lstart",
			out: `                 STARTED     PID CMD
Wed May  1 10:00:00 2024       1 init
Wed May  1 10:01:00 2024    4242 sleep 100
`,
			want:  []int{4242},
			lines: []string{"                 STARTED     PID CMD", "Wed May  1 10:01:00 2024    4242 sleep 100"},
		},
		{
			name:  "pid last",
			out:   "COMMAND PID\nsleep 17\nbash 18\n",
			want:  []int{18},
			lines: []string{"COMMAND PID", "bash 18"},
		},
	} {
		want := map[int]bool{}
		for _, p := range tc.want {
			want[p] = true
		}
		var b bytes.Buffer
		if err := Filter(&b, []byte(tc.out), want); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(tc.lines, "\n") {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.name, strings.Join(got, "\n"), strings.Join(tc.lines, "\n"))
		}
	}
	var b bytes.Buffer
	if err := Filter(&b, []byte("USER COMMAND\nroot sh\n"), nil); err == nil || !strings.Contains(err.Error(), "no PID column") {
		t.Errorf("no PID column: %v", err)
	}
	if err := Filter(&b, nil, nil); err == nil {
		t.Error("empty ps output accepted")
	}
}

func TestWriteSelf(t *testing.T) {
	if _, err := exec.LookPath("ps"); err != nil {
		t.Skip("no ps here")
	}
	var b bytes.Buffer
	if err := Write(&b, []int{os.Getpid()}, nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "PID") {
		t.Errorf("ps -ef for this process:\n%s", b.String())
	}
	if err := Write(&b, nil, []string{"--no-such-option"}); err == nil || !strings.Contains(err.Error(), "run ps --no-such-option") {
		t.Errorf("bad ps option: %v", err)
	}
}

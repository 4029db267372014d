package testutil

import (
	"bytes"
	"errors"
	"os/exec"
	"time"
)

// RunCommand runs cmd to its end, killed after limit (a bound so that a
// test cannot hang, not a timing assertion), and returns its output and
// exit status; err is set only if it could not be run.
func RunCommand(cmd *exec.Cmd, limit time.Duration) (stdout, stderr string, code int, err error) {
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		return "", "", 0, err
	}
	timer := time.AfterFunc(limit, func() { cmd.Process.Kill() })
	err = cmd.Wait()
	timer.Stop()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return out.String(), errOut.String(), ee.ExitCode(), nil
	}
	return out.String(), errOut.String(), 0, err
}

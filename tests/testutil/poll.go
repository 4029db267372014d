package testutil

import (
	"testing"
	"time"
)

// slow is the suite's timeout multiplier (SetSlowFactor): Timeout, Poll
// and WaitFor scale their deadlines by it. It is set once, in TestMain,
// before any test runs.
var slow = 1.0

// SetSlowFactor sets the suite's timeout multiplier from the environment
// variable env (a positive number), or def when it is unset.
func SetSlowFactor(env string, def float64) error {
	f, err := SlowFactor(env, def)
	if err != nil {
		return err
	}
	slow = f
	return nil
}

// StartSuite begins the TestMain of a suite that runs as root: it sets the
// slow factor from SDOCKER_TEST_SLOW (default def) and makes the test
// binary a child subreaper (BecomeSubreaper).
func StartSuite(def float64) error {
	if err := SetSlowFactor("SDOCKER_TEST_SLOW", def); err != nil {
		return err
	}
	return BecomeSubreaper()
}

// Timeout scales d by the suite's slow factor.
func Timeout(d time.Duration) time.Duration { return time.Duration(float64(d) * slow) }

// Poll calls cond until it holds, at most Timeout(d); it reports whether
// it held. It looks again after 10 ms, then less and less often, at least
// every 50 ms: soon for a cheap condition, and not so often that one that
// runs a command loads the machine.
func Poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(Timeout(d))
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(wait)
	}
}

// WaitFor polls cond (Poll) until it holds, and fails t when it has not
// after Timeout(d); what says what the test waits for.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(d, cond) {
		t.Fatalf("timed out after %s waiting for %s", Timeout(d), what)
	}
}

package engine

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/sdocker/sdocker/internal/image"
)

func ptr[T any](v T) *T { return &v }

func TestHealthConfigMerge(t *testing.T) {
	img := &image.HealthConfig{Test: []string{"CMD", "/bin/check", "-q"}, Interval: 5 * time.Second, Retries: 4}
	for _, tc := range []struct {
		name      string
		o         HealthOptions
		img       *image.HealthConfig
		want      *image.HealthConfig
		onFailure string
	}{
		{"none at all", HealthOptions{}, nil, nil, ""},
		{"the image's", HealthOptions{}, img, img, ""},
		{"run's over the image's", HealthOptions{Interval: ptr("200ms"), Timeout: ptr("1s"), StartPeriod: ptr("0"), OnFailure: "kill"}, img,
			&image.HealthConfig{Test: img.Test, Interval: 200 * time.Millisecond, Timeout: time.Second, Retries: 4}, "kill"},
		{"a command replaces the image's test", HealthOptions{Cmd: ptr("curl -f localhost"), Retries: ptr(2)}, img,
			&image.HealthConfig{Test: []string{"CMD-SHELL", "curl -f localhost"}, Interval: 5 * time.Second, Retries: 2}, ""},
		{"retries 0 is the image's", HealthOptions{Retries: ptr(0)}, img, img, ""},
		{"a command without an image", HealthOptions{Cmd: ptr("true"), StartPeriod: ptr("1m30s"), OnFailure: "none"}, nil,
			&image.HealthConfig{Test: []string{"CMD-SHELL", "true"}, StartPeriod: 90 * time.Second}, ""},
		{"--no-healthcheck", HealthOptions{None: true}, img, &image.HealthConfig{Test: []string{"NONE"}}, ""},
		{"the image's NONE", HealthOptions{}, &image.HealthConfig{Test: []string{"NONE"}}, &image.HealthConfig{Test: []string{"NONE"}}, ""},
	} {
		got, onFailure, err := healthConfig(tc.o, tc.img)
		if err != nil || onFailure != tc.onFailure || (got == nil) != (tc.want == nil) ||
			got != nil && (!slices.Equal(got.Test, tc.want.Test) || got.Interval != tc.want.Interval ||
				got.Timeout != tc.want.Timeout || got.StartPeriod != tc.want.StartPeriod || got.Retries != tc.want.Retries) {
			t.Errorf("%s: got %+v %q %v, want %+v %q", tc.name, got, onFailure, err, tc.want, tc.onFailure)
		}
	}
	// The image's config is not changed by run's options.
	if img.Interval != 5*time.Second || img.Test[0] != "CMD" {
		t.Errorf("image config changed: %+v", img)
	}
}

func TestHealthConfigRefusesBadInput(t *testing.T) {
	img := &image.HealthConfig{Test: []string{"CMD-SHELL", "true"}}
	for _, tc := range []struct {
		o    HealthOptions
		img  *image.HealthConfig
		want string
	}{
		{HealthOptions{Interval: ptr("0")}, img, "--health-interval 0: must be at least 1ms"},
		{HealthOptions{Interval: ptr("0s")}, img, "--health-interval 0s: must be at least 1ms"},
		{HealthOptions{Interval: ptr("-1s")}, img, "--health-interval -1s: cannot be negative"},
		{HealthOptions{Interval: ptr("5")}, img, `--health-interval "5": use a duration`},
		{HealthOptions{Interval: ptr("abc")}, img, `--health-interval "abc": use a duration`},
		{HealthOptions{Interval: ptr("")}, img, `--health-interval "": use a duration`},
		{HealthOptions{Interval: ptr("10us")}, img, "--health-interval 10us: must be at least 1ms"},
		{HealthOptions{Timeout: ptr("0")}, img, "--health-timeout 0: must be at least 1ms"},
		{HealthOptions{StartPeriod: ptr("-5s")}, img, "--health-start-period -5s: cannot be negative"},
		{HealthOptions{Retries: ptr(-1)}, img, "--health-retries -1: cannot be negative"},
		{HealthOptions{Cmd: ptr("  ")}, nil, "--health-cmd: give a command"},
		{HealthOptions{None: true, Cmd: ptr("true")}, nil, "--no-healthcheck conflicts with --health-cmd"},
		{HealthOptions{None: true, Interval: ptr("1s"), Retries: ptr(1)}, img, "--no-healthcheck conflicts with --health-interval, --health-retries"},
		{HealthOptions{None: true, OnFailure: "kill"}, img, "--health-on-failure kill: --no-healthcheck leaves no healthcheck"},
		{HealthOptions{Cmd: ptr("true"), OnFailure: "reboot"}, nil, `--health-on-failure "reboot": use none, kill, restart or stop`},
		{HealthOptions{Interval: ptr("1s")}, nil, "--health-interval: the container has no healthcheck"},
		{HealthOptions{OnFailure: "restart"}, nil, "--health-on-failure: the container has no healthcheck"},
		{HealthOptions{Retries: ptr(2)}, &image.HealthConfig{Test: []string{"NONE"}}, "--health-retries: the container has no healthcheck"},
		{HealthOptions{}, &image.HealthConfig{Test: []string{"SHELL", "x"}}, `healthcheck test "SHELL": unknown type`},
		{HealthOptions{}, &image.HealthConfig{Test: []string{"CMD"}}, "healthcheck CMD: no command"},
		{HealthOptions{}, &image.HealthConfig{Test: []string{"CMD-SHELL", ""}}, "healthcheck CMD-SHELL: no command"},
		{HealthOptions{}, &image.HealthConfig{Test: []string{"CMD", "x"}, Interval: -time.Second}, "healthcheck interval -1s"},
		{HealthOptions{}, &image.HealthConfig{Test: []string{"CMD", "x"}, Retries: -2}, "healthcheck retries -2"},
	} {
		_, _, err := healthConfig(tc.o, tc.img)
		if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("healthConfig(%+v, %+v): %v, want %q", tc.o, tc.img, err, tc.want)
		}
	}
}

// TestHealthApply counts results as Docker does.
func TestHealthApply(t *testing.T) {
	started := time.Unix(1700000000, 0)
	c := &image.HealthConfig{Test: []string{"CMD", "x"}, StartPeriod: 10 * time.Second, Retries: 2}
	at := func(s int, code int) HealthResult {
		return HealthResult{Start: started.Add(time.Duration(s) * time.Second), ExitCode: code}
	}
	h := &Health{Status: HealthStarting}
	steps := []struct {
		res    HealthResult
		status string
		streak int
	}{
		{at(1, 1), HealthStarting, 0},  // within the start period: not counted
		{at(5, -1), HealthStarting, 0}, // a timeout neither
		{at(11, 1), HealthStarting, 1}, // after it: counted
		{at(12, 0), HealthHealthy, 0},
		{at(13, 1), HealthHealthy, 1},
		{at(14, 2), HealthUnhealthy, 2}, // retries failures in a row
		{at(15, 1), HealthUnhealthy, 3},
		{at(16, 0), HealthHealthy, 0},
	}
	for i, s := range steps {
		h.apply(s.res, c, started)
		if h.Status != s.status || h.FailingStreak != s.streak {
			t.Fatalf("after result %d (%+v): %s, streak %d; want %s, %d", i, s.res, h.Status, h.FailingStreak, s.status, s.streak)
		}
	}
	if len(h.Log) != healthLogMax || !h.Log[0].Start.Equal(at(12, 0).Start) || !h.Log[4].Start.Equal(at(16, 0).Start) {
		t.Errorf("log: %+v, want the last %d results", h.Log, healthLogMax)
	}
	// Once healthy, a failure within the start period counts.
	h = &Health{Status: HealthHealthy}
	h.apply(at(1, 1), c, started)
	h.apply(at(2, 1), c, started)
	if h.Status != HealthUnhealthy {
		t.Errorf("healthy, then 2 failures within the start period: %s", h.Status)
	}
	// Default retries: 3.
	h = &Health{Status: HealthHealthy}
	for i := range 3 {
		if h.Status == HealthUnhealthy {
			t.Fatalf("unhealthy after %d failures, want 3", i)
		}
		h.apply(at(20+i, 1), &image.HealthConfig{Test: []string{"CMD", "x"}}, started)
	}
	if h.Status != HealthUnhealthy {
		t.Errorf("3 failures, default retries: %s", h.Status)
	}
}

func TestReadLimited(t *testing.T) {
	long := strings.Repeat("x", healthOutputMax+10)
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"ok\n", "ok\n"},
		{long[:healthOutputMax], long[:healthOutputMax]},
		{long, long[:healthOutputMax] + "..."},
	} {
		// One byte at a time: the cut does not depend on how it is read.
		if got := readLimited(iotest.OneByteReader(strings.NewReader(tc.in)), healthOutputMax); got != tc.want {
			t.Errorf("readLimited of %d bytes: %d bytes %q..., want %d", len(tc.in), len(got), got[max(0, len(got)-5):], len(tc.want))
		}
		if got := readLimited(strings.NewReader(tc.in), healthOutputMax); got != tc.want {
			t.Errorf("readLimited of %d bytes at once: %d bytes, want %d", len(tc.in), len(got), len(tc.want))
		}
	}
}

func TestHealthState(t *testing.T) {
	e, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now().UTC()
	r := &Record{ID: strings.Repeat("ab", 32), Status: StateRunning, StartedAt: started,
		Healthcheck: &image.HealthConfig{Test: []string{"CMD-SHELL", "true"}, Retries: 1}}
	if err := os.Mkdir(e.containerDir(r.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	e.LoadHealth(r)
	if r.HealthStatus() != HealthStarting {
		t.Errorf("running, no check yet: %s", r.HealthStatus())
	}
	if err := e.resetHealth(r); err != nil {
		t.Fatal(err)
	}
	before, after, ok, err := e.addHealthResult(r, HealthResult{Start: started, ExitCode: 1, Output: "no"})
	if err != nil || !ok || before != HealthStarting || after != HealthUnhealthy {
		t.Errorf("a failure, 1 retry: %s -> %s, %v %v", before, after, ok, err)
	}
	// A result of an earlier run (a check that outlived a restart) is
	// not counted.
	old := *r
	r.StartedAt = started.Add(time.Second)
	if err := e.resetHealth(r); err != nil {
		t.Fatal(err)
	}
	if _, after, ok, err := e.addHealthResult(&old, HealthResult{Start: started, ExitCode: 0}); err != nil || ok || after != HealthStarting {
		t.Errorf("a result of the run before: recorded %v, status %s, %v", ok, after, err)
	}
	e.LoadHealth(r)
	if h := r.Health; h == nil || h.Status != HealthStarting || h.FailingStreak != 0 || len(h.Log) != 1 || h.Log[0].Output != "no" {
		t.Errorf("after a new start: %+v (want starting, the log kept)", h)
	}
	r.Healthcheck = &image.HealthConfig{Test: []string{"NONE"}}
	e.LoadHealth(r)
	if r.HealthStatus() != HealthNone {
		t.Errorf("NONE: %s", r.HealthStatus())
	}
}

func TestEventFilterHealthStatus(t *testing.T) {
	f, err := ParseEventFilters([]string{"event=health_status"})
	if err != nil {
		t.Fatal(err)
	}
	for action, want := range map[string]bool{"health_status: healthy": true, "health_status: unhealthy": true, "die": false, "health_statusx": false} {
		if got := f.Match(&Event{Type: "container", Action: action}); got != want {
			t.Errorf("event=health_status on %q: %v", action, got)
		}
	}
	f, _ = ParseEventFilters([]string{"event=health_status: healthy"})
	if f.Match(&Event{Action: "health_status: unhealthy"}) || !f.Match(&Event{Action: "health_status: healthy"}) {
		t.Errorf("event=health_status: healthy matches only that status")
	}
}

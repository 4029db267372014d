package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sdocker/sdocker/internal/atomicfile"
	"github.com/sdocker/sdocker/internal/image"
)

// Healthchecks. A container's healthcheck is its image's HEALTHCHECK with
// run's --health-* options over it, as Docker merges them. While the
// container runs, its monitor starts "sdocker healthcheck run ID" (this
// binary) every interval, one at a time (see healthArg): that runs the
// test in the container as exec does, records the result in
// ROOT/containers/ID/health.json (whole, under health.lock), tells a
// change of status as an event and acts on --health-on-failure (see
// Healthcheck). No daemon, no timers of an init system.

// Health statuses, as Docker names them; HealthNone is a container without
// a healthcheck (ps --filter health=none).
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
	HealthNone      = "none"
)

// Docker's defaults of a healthcheck, and what it keeps of the results.
const (
	DefaultHealthInterval = 30 * time.Second
	DefaultHealthTimeout  = 30 * time.Second
	DefaultHealthRetries  = 3
	// healthLogMax is how many results are kept, healthOutputMax how much
	// of each one's output ("..." marks the cut).
	healthLogMax    = 5
	healthOutputMax = 4096
	// minHealthDuration is the shortest interval, timeout or start period.
	minHealthDuration = time.Millisecond
)

// HealthOnFailure are the actions of --health-on-failure: what the
// healthcheck does when the container is unhealthy.
var HealthOnFailure = []string{"none", "kill", "restart", "stop"}

// HealthOptions are run's healthcheck options; a nil field was not given.
type HealthOptions struct {
	Cmd         *string // --health-cmd, run with /bin/sh -c
	Interval    *string // --health-interval, a duration such as 30s
	Timeout     *string // --health-timeout
	StartPeriod *string // --health-start-period
	Retries     *int    // --health-retries
	None        bool    // --no-healthcheck
	OnFailure   string  // --health-on-failure (see HealthOnFailure; "" is none)
}

// given names the --health-* options of o that shape the check.
func (o HealthOptions) given() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"--health-cmd", o.Cmd != nil}, {"--health-interval", o.Interval != nil},
		{"--health-timeout", o.Timeout != nil}, {"--health-start-period", o.StartPeriod != nil},
		{"--health-retries", o.Retries != nil},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// healthConfig is the healthcheck of a container of o on an image whose
// HEALTHCHECK is img (nil: none), and its action on failure: nil when it
// has none; a Test of NONE when it was turned off (kept for inspect).
func healthConfig(o HealthOptions, img *image.HealthConfig) (*image.HealthConfig, string, error) {
	onFailure := o.OnFailure
	if onFailure == "" {
		onFailure = "none"
	}
	if !slices.Contains(HealthOnFailure, onFailure) {
		return nil, "", fmt.Errorf("%w: --health-on-failure %q: use none, kill, restart or stop", ErrInvalidInput, o.OnFailure)
	}
	given := o.given()
	if o.None {
		if len(given) > 0 {
			return nil, "", fmt.Errorf("%w: --no-healthcheck conflicts with %s", ErrInvalidInput, strings.Join(given, ", "))
		}
		if onFailure != "none" {
			return nil, "", fmt.Errorf("%w: --health-on-failure %s: --no-healthcheck leaves no healthcheck to fail", ErrInvalidInput, onFailure)
		}
		return &image.HealthConfig{Test: []string{"NONE"}}, "", nil
	}
	var c image.HealthConfig
	if img != nil {
		c = *img
		c.Test = slices.Clone(img.Test)
	}
	if err := o.apply(&c); err != nil {
		return nil, "", err
	}
	if err := checkHealthConfig(&c); err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	if !healthEnabled(&c) {
		if len(given) > 0 || onFailure != "none" {
			if len(given) == 0 {
				given = []string{"--health-on-failure"}
			}
			return nil, "", fmt.Errorf("%w: %s: the container has no healthcheck to apply it to (give --health-cmd, or an image with a HEALTHCHECK)", ErrInvalidInput, strings.Join(given, ", "))
		}
		if len(c.Test) == 0 {
			return nil, "", nil
		}
		return &c, "", nil // the image's NONE
	}
	if onFailure == "none" {
		onFailure = ""
	}
	return &c, onFailure, nil
}

// apply puts the options of o over c.
func (o HealthOptions) apply(c *image.HealthConfig) error {
	if o.Cmd != nil {
		if strings.TrimSpace(*o.Cmd) == "" {
			return fmt.Errorf("%w: --health-cmd: give a command", ErrInvalidInput)
		}
		c.Test = []string{"CMD-SHELL", *o.Cmd}
	}
	for _, d := range []struct {
		flag      string
		v         *string
		to        *time.Duration
		allowZero bool
	}{
		{"--health-interval", o.Interval, &c.Interval, false},
		{"--health-timeout", o.Timeout, &c.Timeout, false},
		{"--health-start-period", o.StartPeriod, &c.StartPeriod, true},
	} {
		if d.v == nil {
			continue
		}
		v, err := parseHealthDuration(d.flag, *d.v, d.allowZero)
		if err != nil {
			return err
		}
		*d.to = v
	}
	if o.Retries != nil {
		if *o.Retries < 0 {
			return fmt.Errorf("%w: --health-retries %d: cannot be negative", ErrInvalidInput, *o.Retries)
		}
		if *o.Retries > 0 { // 0: the image's, or the default
			c.Retries = *o.Retries
		}
	}
	return nil
}

// parseHealthDuration reads the value s of a duration option: a Go
// duration (30s, 1m30s, 500ms) of at least a millisecond, or 0 where
// allowZero.
func parseHealthDuration(flag, s string, allowZero bool) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%w: %s %q: use a duration such as 30s, 1m or 500ms", ErrInvalidInput, flag, s)
	case d < 0:
		return 0, fmt.Errorf("%w: %s %s: cannot be negative", ErrInvalidInput, flag, s)
	case d == 0 && allowZero:
		return 0, nil
	case d < minHealthDuration:
		return 0, fmt.Errorf("%w: %s %s: must be at least 1ms", ErrInvalidInput, flag, s)
	}
	return d, nil
}

// checkHealthConfig refuses a test or a duration that cannot be run (an
// image's too).
func checkHealthConfig(c *image.HealthConfig) error {
	if len(c.Test) > 0 {
		switch c.Test[0] {
		case "NONE":
		case "CMD", "CMD-SHELL":
			if len(c.Test) < 2 || strings.TrimSpace(strings.Join(c.Test[1:], "")) == "" {
				return fmt.Errorf("healthcheck %s: no command", c.Test[0])
			}
		default:
			return fmt.Errorf("healthcheck test %q: unknown type (known: CMD, CMD-SHELL, NONE; --no-healthcheck runs without it)", c.Test[0])
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"interval", c.Interval}, {"timeout", c.Timeout}, {"start period", c.StartPeriod}} {
		if d.v < 0 || d.v > 0 && d.v < minHealthDuration {
			return fmt.Errorf("healthcheck %s %s: must be 0 (the default) or at least 1ms", d.name, d.v)
		}
	}
	if c.Retries < 0 {
		return fmt.Errorf("healthcheck retries %d: cannot be negative", c.Retries)
	}
	return nil
}

// healthEnabled reports whether c is a healthcheck to run.
func healthEnabled(c *image.HealthConfig) bool {
	return c != nil && len(c.Test) > 1 && (c.Test[0] == "CMD" || c.Test[0] == "CMD-SHELL")
}

// HasHealthcheck reports whether r has a healthcheck to run.
func (r *Record) HasHealthcheck() bool { return healthEnabled(r.Healthcheck) }

// healthTimings are the interval, timeout, start period and retries of c,
// the defaults filled in.
func healthTimings(c *image.HealthConfig) (interval, timeout, startPeriod time.Duration, retries int) {
	interval, timeout, startPeriod, retries = c.Interval, c.Timeout, c.StartPeriod, c.Retries
	if interval == 0 {
		interval = DefaultHealthInterval
	}
	if timeout == 0 {
		timeout = DefaultHealthTimeout
	}
	if retries == 0 {
		retries = DefaultHealthRetries
	}
	return interval, timeout, startPeriod, retries
}

// Health is the state of a container's healthcheck, as Docker's
// State.Health: its status, how many checks in a row failed, and the last
// results (oldest first).
type Health struct {
	Status        string         `json:"status"`
	FailingStreak int            `json:"failingStreak"`
	Log           []HealthResult `json:"log"`
	// Run is when the run that the status is of started: a result of an
	// earlier run (a check that outlived a restart) is not counted.
	Run time.Time `json:"run"`
}

// HealthResult is one check: when it ran, its exit code (-1: it could not
// run, or timed out) and the start of its output.
type HealthResult struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	ExitCode int       `json:"exitCode"`
	Output   string    `json:"output"`
}

func (e *Engine) healthPath(id string) string {
	return filepath.Join(e.containerDir(id), "health.json")
}

// holdHealth takes the lock of container id's health state; the returned
// function releases it.
func (e *Engine) holdHealth(id string) (func(), error) {
	return flockFile(filepath.Join(e.containerDir(id), "health.lock"))
}

// readHealth reads container id's health state; nil if it has none yet.
func (e *Engine) readHealth(id string) (*Health, error) {
	var h *Health
	err := atomicfile.ReadJSON(e.healthPath(id), &h)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return h, err
}

func (e *Engine) writeHealth(id string, h *Health) error {
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode health of %s: %w", id, err)
	}
	return atomicfile.Write(e.healthPath(id), b, 0o600, false)
}

// LoadHealth reads the health state of r into r.Health: nil for a
// container without a healthcheck, or one that never ran; a container
// that runs and has no results yet is starting.
func (e *Engine) LoadHealth(r *Record) {
	r.Health = nil
	if !r.HasHealthcheck() {
		return
	}
	h, err := e.readHealth(r.ID)
	if h == nil && (err != nil || r.Status == StateRunning || r.Status == StatePaused) {
		h = &Health{Status: HealthStarting}
	}
	r.Health = h
}

// HealthStatus is the health of r as ps shows and filters it (see
// LoadHealth): starting, healthy, unhealthy or none.
func (r *Record) HealthStatus() string {
	if r.Health == nil || r.Health.Status == "" {
		return HealthNone
	}
	return r.Health.Status
}

// resetHealth starts the health state of r, which has just started, over:
// starting, no failures, the results of earlier runs kept (as Docker).
func (e *Engine) resetHealth(r *Record) error {
	if !r.HasHealthcheck() {
		return nil
	}
	unlock, err := e.holdHealth(r.ID)
	if err != nil {
		return err
	}
	defer unlock()
	h, err := e.readHealth(r.ID)
	if h == nil || err != nil {
		h = &Health{}
	}
	h.Status, h.FailingStreak, h.Run = HealthStarting, 0, r.StartedAt
	return e.writeHealth(r.ID, h)
}

// addHealthResult records res, a check of r's current run, and returns the
// status before and after; ok is false when the container has started
// again since (the result is then dropped).
func (e *Engine) addHealthResult(r *Record, res HealthResult) (before, after string, ok bool, err error) {
	unlock, err := e.holdHealth(r.ID)
	if err != nil {
		return "", "", false, err
	}
	defer unlock()
	h, err := e.readHealth(r.ID)
	if err != nil {
		return "", "", false, err
	}
	if h == nil {
		h = &Health{Status: HealthStarting, Run: r.StartedAt}
	}
	if !h.Run.Equal(r.StartedAt) {
		return h.Status, h.Status, false, nil
	}
	before = h.Status
	h.apply(res, r.Healthcheck, r.StartedAt)
	return before, h.Status, true, e.writeHealth(r.ID, h)
}

// apply counts res as Docker does: a success makes the container healthy;
// a failure adds to the failing streak (not while it is starting within
// its start period), and retries failures in a row make it unhealthy.
func (h *Health) apply(res HealthResult, c *image.HealthConfig, started time.Time) {
	h.Log = append(h.Log, res)
	if n := len(h.Log); n > healthLogMax {
		h.Log = slices.Clone(h.Log[n-healthLogMax:])
	}
	if res.ExitCode == 0 {
		h.FailingStreak, h.Status = 0, HealthHealthy
		return
	}
	_, _, startPeriod, retries := healthTimings(c)
	if h.Status == HealthStarting && res.Start.Sub(started) < startPeriod {
		return
	}
	h.FailingStreak++
	if h.FailingStreak >= retries {
		h.Status = HealthUnhealthy
	}
}

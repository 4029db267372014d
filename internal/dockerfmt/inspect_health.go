package dockerfmt

import (
	"time"

	"github.com/sdocker/sdocker/internal/engine"
)

// HealthJSON is Docker's State.Health: the status, the failing streak and
// the last results, oldest first.
type HealthJSON struct {
	Status        string             `json:"Status"`
	FailingStreak int                `json:"FailingStreak"`
	Log           []HealthResultJSON `json:"Log"`
}

// HealthResultJSON is one check of HealthJSON.Log.
type HealthResultJSON struct {
	Start    time.Time `json:"Start"`
	End      time.Time `json:"End"`
	ExitCode int       `json:"ExitCode"`
	Output   string    `json:"Output"`
}

// inspectHealth fills c's State.Health (from the health engine.LoadHealth
// read into r), Config.Healthcheck and Config.HealthcheckOnFailureAction.
func inspectHealth(c *ContainerJSON, r *engine.Record) {
	c.Config.Healthcheck = r.Healthcheck
	if r.HasHealthcheck() {
		c.Config.HealthcheckOnFailureAction = r.HealthOnFailure
		if c.Config.HealthcheckOnFailureAction == "" {
			c.Config.HealthcheckOnFailureAction = "none"
		}
	}
	h := r.Health
	if h == nil {
		return
	}
	j := &HealthJSON{Status: h.Status, FailingStreak: h.FailingStreak, Log: []HealthResultJSON{}}
	for _, l := range h.Log {
		j.Log = append(j.Log, HealthResultJSON(l))
	}
	c.State.Health = j
}

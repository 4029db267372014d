package engine

import (
	"errors"
	"testing"
)

func TestParseRestartPolicyUnlessStopped(t *testing.T) {
	if p, err := ParseRestartPolicy("unless-stopped"); err != nil || p != (RestartPolicy{Name: "unless-stopped"}) {
		t.Errorf("unless-stopped: %+v, %v", p, err)
	}
	for _, bad := range []string{"unless-stopped:3", "unless", "always:1"} {
		if _, err := ParseRestartPolicy(bad); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%q: %v, want ErrInvalidInput", bad, err)
		}
	}
}

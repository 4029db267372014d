package engine

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/sdocker/sdocker/internal/network"
)

// The user-mode networks are a rootless engine's: a privileged one
// refuses them by name; podman's option form of slirp4netns is read, and
// an option it does not have is refused by name.
func TestRootlessNetworkModes(t *testing.T) {
	t.Setenv("_SDOCKER_ROOTLESS_UID", "") // not a rootless engine
	for _, mode := range []string{"pasta", "slirp4netns", "slirp4netns:port_handler=slirp4netns"} {
		_, err := rootlessNetwork(mode)
		if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "rootless") {
			t.Errorf("%s as a privileged engine: %v", mode, err)
		}
	}
	for _, mode := range []string{"slirp4netns:port_handler=rootlesskit", "slirp4netns:", "slirp4netns:allow_host_loopback=true"} {
		_, err := rootlessNetwork(mode)
		if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "unsupported option") {
			t.Errorf("%s: %v", mode, err)
		}
	}
	for _, mode := range []string{"none", "host", "bridge", "mynet"} {
		if got, err := rootlessNetwork(mode); err != nil || got != mode {
			t.Errorf("%s as a privileged engine: %q, %v", mode, got, err)
		}
	}
}

// A rootless engine's default network is slirp4netns; pasta is chosen by
// name; a bridge network is refused with the user-mode ones named.
func TestRootlessDefaultNetwork(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a rootless engine runs as uid 0 in its namespace")
	}
	t.Setenv("_SDOCKER_ROOTLESS_UID", "1000")
	if got, err := rootlessNetwork(network.DefaultName); err != nil || got != network.SlirpMode {
		t.Errorf("the default: %q, %v", got, err)
	}
	for _, mode := range []string{"pasta", "slirp4netns", "slirp4netns:port_handler=slirp4netns"} {
		if got, err := rootlessNetwork(mode); err != nil || !strings.HasPrefix(mode, got) {
			t.Errorf("%s: %q, %v", mode, got, err)
		}
	}
	_, err := rootlessNetwork("mynet")
	if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "slirp4netns (the default), pasta") {
		t.Errorf("a bridge network: %v", err)
	}
}

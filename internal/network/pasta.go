package network

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// PastaMode is the network mode of a rootless engine's containers by
// default: their own network namespace, connected to the host's network by
// pasta (passt's user-mode networking, which needs no privilege), host
// ports published by pasta's forwarding.
const PastaMode = "pasta"

// StartPasta connects the network namespace at netns through pasta and
// publishes ports (a host port 0 is picked). pasta configures the
// namespace as the host's network (addresses, routes) and goes into the
// background once it has; its pid goes to pidFile. It quits by itself when
// the namespace's mount goes (RemoveNetns). It returns the ports with
// every host port picked.
func StartPasta(netns, pidFile string, ports []PortMapping) ([]PortMapping, error) {
	pasta, err := exec.LookPath("pasta")
	if err != nil {
		return nil, errors.New("rootless network: pasta not found in PATH: install it (Debian and Ubuntu: the passt package), or use --network none or host")
	}
	if err := unix.Access("/dev/net/tun", unix.R_OK|unix.W_OK); err != nil {
		return nil, fmt.Errorf("rootless network: pasta needs /dev/net/tun, which this user may not open (%w): distributions make it mode 0666; or use --network none or host", err)
	}
	args := []string{"--config-net", "--quiet", "--netns", netns, "--pid", pidFile, "-T", "none", "-U", "none"}
	var tcp, udp int
	out := make([]PortMapping, 0, len(ports))
	for _, m := range ports {
		if m.HostPort == 0 {
			if m.HostPort, err = freePort(m.Proto, m.hostAddr()); err != nil {
				return nil, fmt.Errorf("publish %d/%s: pick a host port: %w", m.ContainerPort, m.Proto, err)
			}
		}
		spec := fmt.Sprintf("%d:%d", m.HostPort, m.ContainerPort)
		if m.HostIP.IsValid() && !m.HostIP.IsUnspecified() {
			spec = m.HostIP.String() + "/" + spec
		}
		flag := "-t"
		if m.Proto == "udp" {
			flag, udp = "-u", udp+1
		} else {
			tcp++
		}
		args = append(args, flag, spec)
		out = append(out, m)
	}
	if tcp == 0 {
		args = append(args, "-t", "none")
	}
	if udp == 0 {
		args = append(args, "-u", "none")
	}
	cmd := exec.Command(pasta, args...)
	cmd.Dir = "/"
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("rootless network: pasta %s: %w: %s", strings.Join(args, " "), err, lastLine(b))
	}
	return out, nil
}

// StopPasta ends the pasta whose pid is in pidFile, if it runs still, and
// removes the file. Gone is not an error.
func StopPasta(pidFile string) error {
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", pidFile, err)
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
		stopPasta(pid)
	}
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", pidFile, err)
	}
	return nil
}

// stopPasta ends pasta pid and waits until it has (its ports are closed
// then), for at most 5 s.
func stopPasta(pid int) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return // gone
	}
	defer unix.Close(fd)
	// Only a pasta: the pid may have been reused since it was written.
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	// (pasta is passt's other name; passt runs passt.avx2 where it can.)
	if err != nil || !strings.HasPrefix(string(comm), "pasta") && !strings.HasPrefix(string(comm), "passt") {
		return
	}
	if unix.PidfdSendSignal(fd, unix.SIGTERM, nil, 0) != nil {
		return
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, 5000); !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

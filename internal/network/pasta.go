package network

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// PastaMode is a network mode of a rootless engine's containers (see
// SlirpMode for the default): their own network namespace, connected to the host's network by
// pasta (passt's user-mode networking, which needs no privilege), host
// ports published by pasta's forwarding.
const PastaMode = "pasta"

// Pasta is a pasta started on a container's network namespace that may
// not have configured it yet.
type Pasta struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	once sync.Once
	err  error
}

// StartPasta starts pasta to connect the network namespace at netns and
// publish ports (a host port 0 is picked), and returns at once: pasta
// configures the namespace as the host's network (addresses, routes)
// while the container is set up, and goes into the background once it
// has (Wait). Its pid goes to pidFile. It quits by itself when the
// namespace's mount goes (RemoveNetns). It returns the ports with every
// host port picked.
func StartPasta(netns, pidFile string, ports []PortMapping) (*Pasta, []PortMapping, error) {
	pasta, err := exec.LookPath("pasta")
	if err != nil {
		return nil, nil, errors.New("rootless network: pasta not found in PATH: install it (Debian and Ubuntu: the passt package), or use --network none or host")
	}
	if err := checkTun("pasta"); err != nil {
		return nil, nil, err
	}
	args, out, err := pastaArgs(netns, pidFile, ports)
	if err != nil {
		return nil, nil, err
	}
	p := &Pasta{cmd: exec.Command(pasta, args...)}
	p.cmd.Dir = "/"
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("rootless network: start pasta: %w", err)
	}
	return p, out, nil
}

// Wait waits until pasta has configured the namespace and gone into the
// background, and says whether it could. Once is enough; later calls
// return the same.
func (p *Pasta) Wait() error {
	p.once.Do(func() {
		if err := p.cmd.Wait(); err != nil {
			p.err = fmt.Errorf("rootless network: pasta %s: %w: %s", strings.Join(p.cmd.Args[1:], " "), err, lastLine(p.out.Bytes()))
		}
	})
	return p.err
}

// checkTun says why prog may not connect a namespace: its tap device
// comes from /dev/net/tun.
func checkTun(prog string) error {
	if err := unix.Access("/dev/net/tun", unix.R_OK|unix.W_OK); err != nil {
		return fmt.Errorf("rootless network: %s needs /dev/net/tun, which this user may not open (%w): distributions make it mode 0666; or use --network none or host", prog, err)
	}
	return nil
}

// pickHostPorts is ports with a free host port picked for each 0.
func pickHostPorts(ports []PortMapping) ([]PortMapping, error) {
	out := make([]PortMapping, 0, len(ports))
	for _, m := range ports {
		if m.HostPort == 0 {
			var err error
			if m.HostPort, err = freePort(m.Proto, m.hostAddr()); err != nil {
				return nil, fmt.Errorf("publish %d/%s: pick a host port: %w", m.ContainerPort, m.Proto, err)
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// pastaArgs are the arguments of pasta for netns, pidFile and ports, and
// the ports with every host port picked. Without a port of a protocol
// nothing of it is forwarded from the host; never from the namespace to
// the host (-T, -U: the host's ports are reached at its addresses).
func pastaArgs(netns, pidFile string, ports []PortMapping) ([]string, []PortMapping, error) {
	args := []string{"--config-net", "--quiet", "--netns", netns, "--pid", pidFile, "-T", "none", "-U", "none"}
	var tcp, udp int
	out, err := pickHostPorts(ports)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range out {
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
	}
	if tcp == 0 {
		args = append(args, "-t", "none")
	}
	if udp == 0 {
		args = append(args, "-u", "none")
	}
	return args, out, nil
}

// StopPasta ends the pasta whose pid is in pidFile, if it runs still, and
// removes the file. Gone is not an error. With wait it returns only once
// pasta has ended (for at most 5 s): its published ports are free again
// then. Its end takes long (the kernel removes its tap device, 20 to 40
// ms): without ports nothing waits for it.
func StopPasta(pidFile string, wait bool) error {
	return stopByPidFile(pidFile, "pasta", nil, wait)
}

// stopByPidFile ends the process of the user-mode network prog whose pid
// is in pidFile (see stopDaemon), if it runs still, and removes the file.
// Gone is not an error.
func stopByPidFile(pidFile, prog string, end func() bool, wait bool) error {
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", pidFile, err)
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
		stopDaemon(pid, prog, end, wait)
	}
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", pidFile, err)
	}
	return nil
}

// stopDaemon ends pid, a process of the user-mode network prog, by end
// (when it says it did) or else by SIGTERM, and with wait waits until it
// has (its ports are closed then), for at most 5 s.
func stopDaemon(pid int, prog string, end func() bool, wait bool) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return // gone
	}
	defer unix.Close(fd)
	// Only prog: the pid may have been reused since it was written.
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	// (pasta is passt's other name; passt runs passt.avx2 where it can.)
	if err != nil || !strings.HasPrefix(string(comm), prog) && !(prog == "pasta" && strings.HasPrefix(string(comm), "passt")) {
		return
	}
	if end == nil || !end() {
		if unix.PidfdSendSignal(fd, unix.SIGTERM, nil, 0) != nil {
			return
		}
	}
	if !wait {
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

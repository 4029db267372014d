package network

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// SlirpMode is the network mode of a rootless engine's containers by
// default:
// their own network namespace, connected to the host's network by
// slirp4netns (user-mode networking over a tap device, which needs no
// privilege), host ports published through its API socket. The
// container's address is slirpGuest, its gateway 10.0.2.2, its DNS
// forwarder 10.0.2.3.
const SlirpMode = "slirp4netns"

// slirpGuest is the container's address on slirp4netns's network
// (--configure's, of the default 10.0.2.0/24).
const slirpGuest = "10.0.2.100"

// Slirp is a slirp4netns started on a container's network namespace that
// may not have configured it yet.
type Slirp struct {
	cmd   *exec.Cmd
	out   bytes.Buffer
	ready *os.File // read end: slirp4netns writes once the namespace is configured
	api   string
	ports []PortMapping
	once  sync.Once
	err   error
}

// slirpExits holds the write ends of the exit pipes of the slirp4netns
// this process started, by pid file: slirp4netns ends when its end is
// closed, by StopSlirp or with this process and what it execs (the
// container's monitor), so that none outlives the container's monitor.
var slirpExits = struct {
	sync.Mutex
	fds map[string]int
}{fds: map[string]int{}}

// StartSlirp starts slirp4netns to connect the network namespace at netns
// and returns at once; Wait waits until it has configured the namespace
// and publishes ports (a host port 0 is picked) through its API socket
// api. Its pid goes to pidFile. It returns the ports with every host port
// picked.
func StartSlirp(netns, pidFile, api string, ports []PortMapping) (*Slirp, []PortMapping, error) {
	bin, err := exec.LookPath("slirp4netns")
	if err != nil {
		return nil, nil, errors.New("rootless network: slirp4netns not found in PATH: install it (Debian and Ubuntu: the slirp4netns package), or use --network pasta, none or host")
	}
	if err := checkTun("slirp4netns"); err != nil {
		return nil, nil, err
	}
	for _, m := range ports {
		if m.HostIP.IsValid() && !m.HostIP.Is4() {
			return nil, nil, fmt.Errorf("rootless network: publish %s: slirp4netns publishes on IPv4 addresses only", m)
		}
	}
	out, err := pickHostPorts(ports)
	if err != nil {
		return nil, nil, err
	}
	_ = os.Remove(api) // what a killed start left: slirp4netns binds it anew
	s, exitW, err := startSlirp(bin, netns, api)
	if err != nil {
		return nil, nil, err
	}
	s.ports = out
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(s.cmd.Process.Pid)), 0o644); err != nil {
		unix.Close(exitW)
		_ = s.Wait()
		return nil, nil, fmt.Errorf("write %s: %w", pidFile, err)
	}
	slirpExits.Lock()
	slirpExits.fds[pidFile] = exitW
	slirpExits.Unlock()
	return s, out, nil
}

// startSlirp starts slirp4netns bin on netns with its ready and exit
// pipes; it returns the exit pipe's write end, a bare descriptor, which
// no finalizer closes.
func startSlirp(bin, netns, api string) (*Slirp, int, error) {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, -1, fmt.Errorf("rootless network: pipe: %w", err)
	}
	defer readyW.Close()
	var exit [2]int
	if err := unix.Pipe2(exit[:], unix.O_CLOEXEC); err != nil {
		readyR.Close()
		return nil, -1, fmt.Errorf("rootless network: pipe: %w", err)
	}
	exitR := os.NewFile(uintptr(exit[0]), "slirp4netns exit")
	defer exitR.Close()
	s := &Slirp{ready: readyR, api: api}
	s.cmd = exec.Command(bin, "--configure", "--mtu=65520", "--disable-host-loopback",
		"--ready-fd=3", "--exit-fd=4", "--api-socket", api, "--netns-type=path", netns, "tap0")
	s.cmd.Dir = "/"
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	s.cmd.ExtraFiles = []*os.File{readyW, exitR}
	// Not the engine's signals (a ^C of a foreground run): the exit pipe
	// and StopSlirp end it.
	s.cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		readyR.Close()
		unix.Close(exit[1])
		return nil, -1, fmt.Errorf("rootless network: start slirp4netns: %w", err)
	}
	// The exit pipe's write end goes on into what this process execs
	// (the start of a detached container execs its monitor), not into
	// slirp4netns itself, which would never see its end.
	if _, err := unix.FcntlInt(uintptr(exit[1]), unix.F_SETFD, 0); err != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		readyR.Close()
		unix.Close(exit[1])
		return nil, -1, fmt.Errorf("rootless network: slirp4netns exit pipe: %w", err)
	}
	return s, exit[1], nil
}

// Wait waits until slirp4netns has configured the namespace, then
// publishes the ports. Once is enough; later calls return the same.
func (s *Slirp) Wait() error {
	s.once.Do(func() {
		s.err = s.wait()
		s.ready.Close()
	})
	return s.err
}

func (s *Slirp) wait() error {
	var b [1]byte
	if n, _ := s.ready.Read(b[:]); n == 0 {
		// It ended before it was ready.
		err := s.cmd.Wait()
		return fmt.Errorf("rootless network: slirp4netns %s: %w: %s", strings.Join(s.cmd.Args[1:], " "), err, lastLine(s.out.Bytes()))
	}
	// Its output is not read from now on; the process is not waited
	// for (StopSlirp ends it).
	go func() { _ = s.cmd.Wait() }()
	for _, m := range s.ports {
		if err := s.addHostfwd(m); err != nil {
			return err
		}
	}
	return nil
}

// addHostfwd publishes m through slirp4netns's API socket.
func (s *Slirp) addHostfwd(m PortMapping) error {
	req := map[string]any{
		"execute": "add_hostfwd",
		"arguments": map[string]any{
			"proto": m.Proto, "host_addr": m.hostAddr().String(), "host_port": m.HostPort,
			"guest_addr": slirpGuest, "guest_port": m.ContainerPort,
		},
	}
	var resp struct {
		Error *struct {
			Desc string `json:"desc"`
		} `json:"error"`
	}
	if err := slirpCall(s.api, req, &resp); err != nil {
		return fmt.Errorf("rootless network: publish %s: %w", m, err)
	}
	if resp.Error != nil {
		why := resp.Error.Desc
		if strings.Contains(why, "bad request") || why == "" {
			why = "cannot listen there (the port is taken?)"
		}
		return fmt.Errorf("rootless network: publish %s: slirp4netns: %s", m, why)
	}
	return nil
}

// slirpCall sends req to the API socket at path and decodes its answer
// into resp.
func slirpCall(path string, req, resp any) error {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return fmt.Errorf("connect %s: %w", path, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// slirp4netns answers once the request is complete: the end of the
	// write side.
	_ = c.(*net.UnixConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, resp); err != nil {
		return fmt.Errorf("read %s: %q: %w", path, b, err)
	}
	return nil
}

// StopSlirp ends the slirp4netns whose pid is in pidFile, if it runs
// still, and removes the file and its API socket api. Gone is not an
// error. With wait it returns only once slirp4netns has ended (for at
// most 5 s): its published ports are free again then. Its end takes long
// (the kernel removes its tap device, as pasta's): without ports nothing
// waits for it. In the process that started it, closing its exit pipe
// ends it; elsewhere a SIGTERM.
func StopSlirp(pidFile, api string, wait bool) error {
	err := stopByPidFile(pidFile, "slirp4netns", func() bool { return closeSlirpExit(pidFile) }, wait)
	if err := os.Remove(api); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", api, err)
	}
	return err
}

// closeSlirpExit closes the exit pipe of the slirp4netns of pidFile if
// this process started it, and says whether it did.
func closeSlirpExit(pidFile string) bool {
	slirpExits.Lock()
	defer slirpExits.Unlock()
	fd, ok := slirpExits.fds[pidFile]
	if ok {
		delete(slirpExits.fds, pidFile)
		unix.Close(fd)
	}
	return ok
}

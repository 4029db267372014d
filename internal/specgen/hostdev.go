package specgen

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DeviceRequest is a --device HOST[:CONTAINER][:PERMISSIONS] as given.
type DeviceRequest struct {
	Host, Container, Access string
}

// ParseDevice reads a --device: the container path defaults to the host's,
// the permissions to rwm.
func ParseDevice(d string) (DeviceRequest, error) {
	parts := strings.Split(d, ":")
	r := DeviceRequest{Host: parts[0], Access: "rwm"}
	switch len(parts) {
	case 1:
	case 2:
		if validAccess(parts[1]) {
			r.Access = parts[1]
		} else {
			r.Container = parts[1]
		}
	case 3:
		r.Container, r.Access = parts[1], parts[2]
	default:
		return r, fmt.Errorf("--device %q: use HOST[:CONTAINER][:PERMISSIONS]", d)
	}
	if r.Container == "" {
		r.Container = r.Host
	}
	if !filepath.IsAbs(r.Host) || !filepath.IsAbs(r.Container) {
		return r, fmt.Errorf("--device %q: both paths must be absolute", d)
	}
	if !validAccess(r.Access) {
		return r, fmt.Errorf("--device %q: permissions are letters of rwm", d)
	}
	r.Host, r.Container = filepath.Clean(r.Host), filepath.Clean(r.Container)
	return r, nil
}

func validAccess(a string) bool {
	if a == "" || len(a) > 3 {
		return false
	}
	for i, c := range a {
		if !strings.ContainsRune("rwm", c) || strings.ContainsRune(a[:i], c) {
			return false
		}
	}
	return true
}

// WithDevices creates each device in the container and allows it in the
// device cgroup with its permissions (--device). A device of the same
// container path replaces the earlier one.
func WithDevices(devices []specs.LinuxDevice, access []string) Opt {
	return func(s *specs.Spec) error {
		for i, d := range devices {
			major, minor := d.Major, d.Minor
			s.Linux.Devices = append(s.Linux.Devices, d)
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{
				Allow: true, Type: d.Type, Major: &major, Minor: &minor, Access: access[i],
			})
		}
		return nil
	}
}

// ParseDeviceCgroupRule reads a --device-cgroup-rule: TYPE MAJOR:MINOR
// ACCESS, TYPE one of a, b, c and MAJOR, MINOR numbers or *; "a" alone
// is every device.
func ParseDeviceCgroupRule(rule string) (specs.LinuxDeviceCgroup, error) {
	bad := fmt.Errorf("--device-cgroup-rule %q: use 'TYPE MAJOR:MINOR ACCESS' (TYPE a, b or c; MAJOR and MINOR numbers or *; ACCESS letters of rwm)", rule)
	f := strings.Fields(rule)
	if len(f) == 1 && f[0] == "a" {
		return specs.LinuxDeviceCgroup{Allow: true, Type: "a", Access: "rwm"}, nil
	}
	if len(f) != 3 || (f[0] != "a" && f[0] != "b" && f[0] != "c") || !validAccess(f[2]) {
		return specs.LinuxDeviceCgroup{}, bad
	}
	majS, minS, ok := strings.Cut(f[1], ":")
	if !ok {
		return specs.LinuxDeviceCgroup{}, bad
	}
	major, err1 := deviceNumber(majS)
	minor, err2 := deviceNumber(minS)
	if err1 != nil || err2 != nil {
		return specs.LinuxDeviceCgroup{}, bad
	}
	return specs.LinuxDeviceCgroup{Allow: true, Type: f[0], Major: major, Minor: minor, Access: f[2]}, nil
}

func deviceNumber(s string) (*int64, error) {
	if s == "*" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > 1<<32-1 {
		return nil, fmt.Errorf("bad device number %q", s)
	}
	return &n, nil
}

// WithDeviceCgroupRules adds device cgroup rules (--device-cgroup-rule)
// after those the spec has.
func WithDeviceCgroupRules(rules ...specs.LinuxDeviceCgroup) Opt {
	return func(s *specs.Spec) error {
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rules...)
		return nil
	}
}

// ipcSysctls are the sysctls of the IPC namespace outside fs.mqueue.
var ipcSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

// WithSysctls sets namespaced sysctls (--sysctl KEY=VALUE): those of the
// IPC namespace (kernel.shm*, msg*, sem, fs.mqueue.*) with one of its own,
// net.* with a network namespace not the host's. Any other key would
// change the host and is refused. It comes after the namespace options.
func WithSysctls(kvs []string) Opt {
	return func(s *specs.Spec) error {
		for _, kv := range kvs {
			k, v, ok := strings.Cut(kv, "=")
			k = strings.ReplaceAll(strings.TrimSpace(k), "/", ".")
			if !ok || k == "" {
				return fmt.Errorf("--sysctl %q: use KEY=VALUE", kv)
			}
			if s.Linux.Sysctl == nil {
				s.Linux.Sysctl = map[string]string{}
			}
			s.Linux.Sysctl[k] = v
		}
		return CheckSysctls(s)
	}
}

// CheckSysctls refuses a sysctl of the spec that is not namespaced, or
// whose namespace is the host's: run it again once a namespace the
// container joins is known.
func CheckSysctls(s *specs.Spec) error {
	for k := range s.Linux.Sysctl {
		var ns specs.LinuxNamespaceType
		switch {
		case ipcSysctls[k] || strings.HasPrefix(k, "fs.mqueue."):
			ns = specs.IPCNamespace
		case strings.HasPrefix(k, "net."):
			ns = specs.NetworkNamespace
		default:
			return fmt.Errorf("--sysctl %s: not a namespaced sysctl: it would change the host (allowed: net.*, fs.mqueue.*, kernel.shm*, kernel.msg*, kernel.sem)", k)
		}
		if !hasNamespace(s, ns) {
			return fmt.Errorf("--sysctl %s: the container shares the host's %s namespace: it would change the host", k, ns)
		}
	}
	return nil
}

// hasNamespace tells whether the container has a namespace of type t (its
// own, or one it joins) rather than the host's.
func hasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	for _, n := range s.Linux.Namespaces {
		if n.Type == t {
			return true
		}
	}
	return false
}

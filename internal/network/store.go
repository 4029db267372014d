package network

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/atomicfile"
)

// Sentinel errors the command line maps to messages.
var (
	ErrNotFound  = errors.New("no such network")
	ErrAmbiguous = errors.New("ambiguous network reference")
	ErrExists    = errors.New("network already exists")
	ErrInvalid   = errors.New("invalid network")
	ErrOverlap   = errors.New("subnet overlaps")
	ErrNoSubnet  = errors.New("no free subnet")
	ErrDefault   = errors.New("pre-defined network")
	ErrDamaged   = errors.New("damaged")
)

// refusal is an error of one of the kinds above whose message says it
// all, without the kind's words before it.
type refusal struct {
	kind error
	msg  string
}

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return r.kind }

func refuse(kind error, format string, a ...any) error {
	return &refusal{kind: kind, msg: fmt.Sprintf(format, a...)}
}

// DefaultSubnetEnv names the environment variable that chooses the default
// network's subnet (e.g. 10.200.0.0/24). It is read only when the default
// network's definition is first written; later it is the file's.
const DefaultSubnetEnv = "SDOCKER_BRIDGE_SUBNET"

// defaultSubnet is the default network's subnet unless it overlaps the
// host's routes or addresses, as Docker's docker0.
var defaultSubnet = netip.MustParsePrefix("172.17.0.0/16")

// reservedNames are the networks `run --network` knows without a
// definition ("default" is Docker's other name of bridge).
var reservedNames = []string{DefaultName, "host", "none", "default"}

// maxPrefixLen is the longest IPv4 prefix a network may have: a /30 holds
// the network address, the gateway, one container and the broadcast.
const maxPrefixLen = 30

// nameRe is Docker's rule for network names.
var nameRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`) })

// Store keeps network definitions as <root>/networks/<Name>.json. Creating
// and removing one holds <root>/networks/lock.
type Store struct {
	dir string
	// hostNets lists the host's routes and addresses that a subnet must not
	// overlap (hostRoutes; replaced in tests).
	hostNets func() ([]HostNet, error)
}

// CreateOptions is what `network create` is given.
type CreateOptions struct {
	Name     string
	Subnet   string // CIDR; "" picks a free one
	Gateway  string // "" is the subnet's first address
	Internal bool
	Labels   map[string]string
}

// Open returns the network store under the engine's root, creating its
// directory.
func Open(root string) (*Store, error) {
	dir := filepath.Join(root, "networks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	return &Store{dir: dir, hostNets: hostRoutes}, nil
}

// Dir is the store's directory, <root>/networks.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(name string) string { return filepath.Join(s.dir, name+".json") }

// lock takes the store's lock (create, remove, first write of the default
// network); the returned function releases it.
func (s *Store) lock() (func(), error) {
	return flock(filepath.Join(s.dir, "lock"))
}

// flock takes an exclusive flock on file p, creating it.
func flock(p string) (func(), error) {
	fd, err := unix.Open(p, unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", p, err)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return func() { unix.Close(fd) }, nil
}

// read loads the definition of the network called name.
func (s *Store) read(name string) (*Network, error) {
	p := s.path(name)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	var n Network
	err = json.Unmarshal(b, &n)
	if err == nil && (n.Name != name || len(n.ID) < 12 || !n.Subnet.IsValid() || !n.Gateway.IsValid() || n.Bridge == "") {
		err = errors.New("a field is missing")
	}
	if err != nil {
		// Truncated by a full disk, emptied by a crash, edited by hand.
		return nil, fmt.Errorf("%w network definition %s: %w", ErrDamaged, p, err)
	}
	return &n, nil
}

func (s *Store) write(n *Network) error {
	b, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return fmt.Errorf("encode network %s: %w", n.Name, err)
	}
	return atomicfile.Write(s.path(n.Name), append(b, '\n'), 0o600, true)
}

// List returns every defined network, sorted by name. The default network
// is there once it has been written (Default). A definition that cannot be
// read is left out and named in the error, which is then ErrDamaged: the
// networks returned are the others.
func (s *Store) List() ([]*Network, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.dir, err)
	}
	var nets []*Network
	var damaged []error
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !e.Type().IsRegular() || strings.HasPrefix(name, ".") {
			continue
		}
		n, err := s.read(name)
		switch {
		case errors.Is(err, ErrNotFound):
			continue // removed meanwhile
		case errors.Is(err, ErrDamaged):
			damaged = append(damaged, err)
			continue
		case err != nil:
			return nil, err
		}
		nets = append(nets, n)
	}
	sort.Slice(nets, func(i, j int) bool { return nets[i].Name < nets[j].Name })
	return nets, errors.Join(damaged...)
}

// readable lists the networks that can be read (List without its
// ErrDamaged).
func (s *Store) readable() ([]*Network, error) {
	nets, err := s.List()
	if err != nil && !errors.Is(err, ErrDamaged) {
		return nil, err
	}
	return nets, nil
}

// findOrDamaged is find among the readable networks; a name that is not
// found there but is a damaged definition's gets that one's error.
func (s *Store) findOrDamaged(nets []*Network, nameOrID string) (*Network, error) {
	n, err := find(nets, nameOrID)
	if errors.Is(err, ErrNotFound) && CheckName(nameOrID) == nil {
		if _, derr := s.read(nameOrID); errors.Is(derr, ErrDamaged) {
			return nil, derr
		}
	}
	return n, err
}

// Get finds a network by name, full id or unique id prefix, as Docker:
// a full id first, then a name, then a prefix. The default network is
// written on first use. ErrNotFound names what was asked for.
func (s *Store) Get(nameOrID string) (*Network, error) {
	if nameOrID == DefaultName {
		return s.Default()
	}
	if nameOrID == "" {
		return nil, fmt.Errorf("%w: empty name", ErrNotFound)
	}
	nets, err := s.readable()
	if err != nil {
		return nil, err
	}
	return s.findOrDamaged(nets, nameOrID)
}

// find picks nameOrID among nets: a full id, a name, a unique id prefix.
func find(nets []*Network, nameOrID string) (*Network, error) {
	for _, n := range nets {
		if n.ID == nameOrID {
			return n, nil
		}
	}
	for _, n := range nets {
		if n.Name == nameOrID {
			return n, nil
		}
	}
	var found *Network
	for _, n := range nets {
		if !strings.HasPrefix(n.ID, nameOrID) {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: %s matches networks %s and %s", ErrAmbiguous, nameOrID, found.Name, n.Name)
		}
		found = n
	}
	if found == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, nameOrID)
	}
	return found, nil
}

// Create validates o and writes the new network's definition; nothing is
// written when it is refused.
func (s *Store) Create(o CreateOptions) (*Network, error) {
	if err := CheckName(o.Name); err != nil {
		return nil, err
	}
	for k := range o.Labels {
		if k == "" {
			return nil, refuse(ErrInvalid, "invalid label: the key is empty")
		}
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	nets, err := s.readable()
	if err != nil {
		return nil, err
	}
	if _, err := s.read(o.Name); !errors.Is(err, ErrNotFound) {
		if errors.Is(err, ErrDamaged) {
			return nil, refuse(ErrExists, "network with name %s already exists, its definition damaged (network rm %s removes it): %v", o.Name, o.Name, err)
		}
		return nil, refuse(ErrExists, "network with name %s already exists", o.Name)
	}
	host, err := s.hostNets()
	if err != nil {
		return nil, err
	}
	subnet, gw, err := chooseSubnet(o.Subnet, o.Gateway, nets, host)
	if err != nil {
		return nil, err
	}
	id, err := newID(nets)
	if err != nil {
		return nil, err
	}
	n := &Network{
		Name: o.Name, ID: id, Driver: "bridge", Subnet: subnet, Gateway: gw,
		Bridge: "sd-" + id[:12], Internal: o.Internal, Labels: o.Labels,
		Created: time.Now().UTC(),
	}
	if err := s.write(n); err != nil {
		return nil, err
	}
	return n, nil
}

// chooseSubnet checks the subnet and gateway a user gave, or picks a free
// subnet from the pools when none was given.
func chooseSubnet(subnet, gateway string, nets []*Network, host []HostNet) (netip.Prefix, netip.Addr, error) {
	if subnet == "" {
		if gateway != "" {
			return netip.Prefix{}, netip.Addr{}, refuse(ErrInvalid, "invalid gateway %s: a gateway needs a subnet (--subnet)", gateway)
		}
		p, err := freeSubnet(nets, host)
		if err != nil {
			return netip.Prefix{}, netip.Addr{}, err
		}
		return p, p.Addr().Next(), nil
	}
	p, err := ParseSubnet(subnet)
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, err
	}
	gw := p.Addr().Next()
	if gateway != "" {
		if gw, err = ParseGateway(p, gateway); err != nil {
			return netip.Prefix{}, netip.Addr{}, err
		}
	}
	if err := checkOverlap(p, nets, host); err != nil {
		return netip.Prefix{}, netip.Addr{}, err
	}
	return p, gw, nil
}

// CheckName refuses a network name Docker refuses, and the names `run
// --network` gives another meaning.
func CheckName(name string) error {
	if name == "" {
		return refuse(ErrInvalid, "invalid network name \"\": a network needs a name")
	}
	if !nameRe().MatchString(name) {
		return refuse(ErrInvalid, "invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	for _, r := range reservedNames {
		if name == r {
			return refuse(ErrExists, "network with name %s already exists: it is pre-defined", name)
		}
	}
	return nil
}

// ParseSubnet reads an IPv4 CIDR: the address must be the network's own
// (Docker: "invalid subnet 10.0.0.1/24: it should be 10.0.0.0/24"), and it
// must leave room for the gateway and one container.
func ParseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, refuse(ErrInvalid, "invalid subnet %q: not an address/length CIDR", s)
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, refuse(ErrInvalid, "invalid subnet %s: only IPv4 networks are supported", s)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, refuse(ErrInvalid, "invalid subnet %s: it should be %s", s, m)
	}
	if p.Bits() > maxPrefixLen {
		return netip.Prefix{}, refuse(ErrInvalid, "invalid subnet %s: too small, a network needs at least a /%d (a gateway and a container)", s, maxPrefixLen)
	}
	return p, nil
}

// ParseGateway reads a gateway address of subnet p: inside it, and neither
// its network nor its broadcast address.
func ParseGateway(p netip.Prefix, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, refuse(ErrInvalid, "invalid gateway %q: not an IP address", s)
	}
	a = a.Unmap()
	if !p.Contains(a) {
		return netip.Addr{}, refuse(ErrInvalid, "invalid gateway %s: not in subnet %s", s, p)
	}
	if a == p.Addr() || a == Broadcast(p) {
		return netip.Addr{}, refuse(ErrInvalid, "invalid gateway %s: the network or broadcast address of %s", s, p)
	}
	return a, nil
}

// Broadcast is the last address of IPv4 subnet p.
func Broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}

// checkOverlap refuses a subnet that shares addresses with another network
// or with a route or address of the host.
func checkOverlap(p netip.Prefix, nets []*Network, host []HostNet) error {
	for _, n := range nets {
		if p.Overlaps(n.Subnet) {
			return refuse(ErrOverlap, "subnet %s overlaps network %s (%s)", p, n.Name, n.Subnet)
		}
	}
	for _, h := range host {
		if p.Overlaps(h.Prefix) {
			return refuse(ErrOverlap, "subnet %s overlaps the host's %s", p, h)
		}
	}
	return nil
}

// pools lists the subnets tried, in order, when `network create` is given
// none: 172.18-31.0.0/16 (172.17 is the default network's), then
// 10.89.0-255.0/24.
func pools() []netip.Prefix {
	var ps []netip.Prefix
	for i := 18; i <= 31; i++ {
		ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(i), 0, 0}), 16))
	}
	for i := 0; i <= 255; i++ {
		ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 89, byte(i), 0}), 24))
	}
	return ps
}

// freeSubnet is the first pool subnet that overlaps neither a network nor
// the host.
func freeSubnet(nets []*Network, host []HostNet) (netip.Prefix, error) {
	for _, p := range pools() {
		if checkOverlap(p, nets, host) == nil {
			return p, nil
		}
	}
	return netip.Prefix{}, refuse(ErrNoSubnet, "no free subnet: 172.18.0.0/16-172.31.0.0/16 and 10.89.0.0/24-10.89.255.0/24 all overlap a network or a host route (give --subnet)")
}

// newID returns 64 random hex digits whose first 12 no other network has
// (they name the bridge).
func newID(nets []*Network) (string, error) {
	b := make([]byte, 32)
	for {
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("generate network id: %w", err)
		}
		id := hex.EncodeToString(b)
		if !bridgeTaken(nets, "sd-"+id[:12]) {
			return id, nil
		}
	}
}

func bridgeTaken(nets []*Network, bridge string) bool {
	for _, n := range nets {
		if n.Bridge == bridge {
			return true
		}
	}
	return false
}

// Remove deletes a network's definition and its members' directory; the
// caller has checked that no container uses it. The default network cannot
// be removed.
func (s *Store) Remove(nameOrID string) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	nets, err := s.readable()
	if err != nil {
		return err
	}
	n, err := s.findOrDamaged(nets, nameOrID)
	if errors.Is(err, ErrDamaged) && nameOrID != DefaultName {
		// Its id is unknown: what its members left stays until they leave.
		p := s.path(nameOrID)
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("remove %s: %w", p, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if !n.UserDefined() {
		return refuse(ErrDefault, "%s is a pre-defined network and cannot be removed", n.Name)
	}
	p := s.path(n.Name)
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return s.removeMembers(n.ID)
}

// Default returns the default network, writing its definition on first
// use: bridge DefaultBridge on $SDOCKER_BRIDGE_SUBNET if set, else on the
// subnet the bridge already has (another root's), else on 172.17.0.0/16,
// else on the first free pool subnet. A damaged definition is written
// again so.
func (s *Store) Default() (*Network, error) {
	n, err := s.read(DefaultName)
	if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrDamaged) {
		return n, err
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if n, err := s.read(DefaultName); !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrDamaged) {
		return n, err
	}
	nets, err := s.readable()
	if err != nil {
		return nil, err
	}
	subnet, gw, err := s.defaultSubnet(nets)
	if err != nil {
		return nil, fmt.Errorf("default network: %w", err)
	}
	id, err := newID(nets)
	if err != nil {
		return nil, err
	}
	n = &Network{
		Name: DefaultName, ID: id, Driver: "bridge", Subnet: subnet, Gateway: gw,
		Bridge: DefaultBridge, Created: time.Now().UTC(),
	}
	if err := s.write(n); err != nil {
		return nil, err
	}
	return n, nil
}

// defaultSubnet chooses the default network's subnet and gateway (see
// Default).
func (s *Store) defaultSubnet(nets []*Network) (netip.Prefix, netip.Addr, error) {
	host, err := s.hostNets()
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, err
	}
	if env := os.Getenv(DefaultSubnetEnv); env != "" {
		subnet, gw, err := chooseSubnet(env, "", nets, withoutDev(host, DefaultBridge))
		if err != nil {
			return netip.Prefix{}, netip.Addr{}, fmt.Errorf("$%s: %w", DefaultSubnetEnv, err)
		}
		return subnet, gw, nil
	}
	for _, h := range host {
		if h.Dev == DefaultBridge && h.Addr.IsValid() && checkOverlap(h.Prefix, nets, nil) == nil {
			return h.Prefix, h.Addr, nil
		}
	}
	if checkOverlap(defaultSubnet, nets, host) == nil {
		return defaultSubnet, defaultSubnet.Addr().Next(), nil
	}
	p, err := freeSubnet(nets, host)
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, err
	}
	return p, p.Addr().Next(), nil
}

// withoutDev drops the routes and addresses of link dev.
func withoutDev(host []HostNet, dev string) []HostNet {
	var out []HostNet
	for _, h := range host {
		if h.Dev != dev {
			out = append(out, h)
		}
	}
	return out
}

package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sdocker/sdocker/internal/atomicfile"
)

// The members of a network live in <root>/networks/members/<network id>/,
// one <container id>.json each (a memberRecord). One lock, members.lock
// beside the directory, orders every join and leave with the rewrites of
// the hosts files they cause: a container on two networks has one hosts
// file made from both, so a change on one network must see the other's
// members as they are. Records are read as needed (a view): a join to the
// default network reads and writes the joining container's files only,
// however many containers it has. Lock order: the store's lock, then the
// members lock (network rm); nobody takes the store's while holding the
// members lock.

func (s *Store) membersRoot() string { return filepath.Join(s.dir, "members") }

func (s *Store) membersDir(netID string) string { return filepath.Join(s.membersRoot(), netID) }

func (s *Store) memberPath(netID, containerID string) string {
	return filepath.Join(s.membersDir(netID), containerID+".json")
}

func (s *Store) lockMembers() (func(), error) { return flock(filepath.Join(s.dir, "members.lock")) }

// lockFor checks a container id and takes the members lock.
func (s *Store) lockFor(containerID string) (func(), error) {
	if err := checkFileName("container id", containerID); err != nil {
		return nil, err
	}
	return s.lockMembers()
}

// removeMembers deletes what a removed network's members left.
func (s *Store) removeMembers(netID string) error {
	unlock, err := s.lockMembers()
	if err != nil {
		return err
	}
	defer unlock()
	p := s.membersDir(netID)
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}

// checkFileName refuses an id that is not a plain file name.
func checkFileName(what, id string) error {
	if id == "" || strings.HasPrefix(id, ".") || strings.ContainsAny(id, "/\x00") {
		return refuse(ErrInvalid, "invalid %s %q", what, id)
	}
	return nil
}

// memberRecord is a Member as stored: with when it joined, which orders a
// container's networks (its first one gives its own hosts line, as in
// Docker).
type memberRecord struct {
	Member
	Joined time.Time `json:"Joined"`
	netID  string    // the directory it was read from
}

// Join records m as a member of network n and rewrites, in place, the hosts
// file of m and, on a user-defined network, of every other member of n:
// each of them then resolves the others by name, alias and short id.
// Joining again replaces m's record (e.g. a new address after a restart).
func (s *Store) Join(n *Network, m Member) error {
	if err := checkFileName("network id", n.ID); err != nil {
		return err
	}
	m.Network = n.Name
	unlock, err := s.lockFor(m.ContainerID)
	if err != nil {
		return err
	}
	defer unlock()
	p := s.memberPath(n.ID, m.ContainerID)
	rec := memberRecord{Member: m, Joined: time.Now().UTC()}
	if old, err := readMember(p); err == nil {
		rec.Joined = old.Joined
	}
	if err := touch(m.HostsPath); err != nil {
		return err
	}
	if err := os.MkdirAll(s.membersDir(n.ID), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", s.membersDir(n.ID), err)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode %s: %w", p, err)
	}
	if err := atomicfile.Write(p, b, 0o600, false); err != nil {
		return err
	}
	v, err := s.view()
	if err != nil {
		return err
	}
	return v.rewrite(n, m.ContainerID)
}

// Leave removes container containerID from network n and rewrites the hosts
// files of the members left and of the container itself (a disconnect: it
// no longer resolves them). Leaving a network one is not on is no error.
func (s *Store) Leave(n *Network, containerID string) error {
	unlock, err := s.lockFor(containerID)
	if err != nil {
		return err
	}
	defer unlock()
	p := s.memberPath(n.ID, containerID)
	old, err := readMember(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case errors.Is(err, ErrDamaged):
		old = &memberRecord{} // its hosts file is not known: left as it is
	case err != nil:
		return err
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	v, err := s.view()
	if err != nil {
		return err
	}
	err = v.rewrite(n, containerID)
	if mine, verr := v.recordsOf(containerID); verr == nil && len(mine) == 0 {
		// On no network any more: its localhost and --add-host lines.
		alone := Member{ContainerID: containerID, ExtraHosts: old.ExtraHosts}
		err = errors.Join(err, writeHosts(old.HostsPath, HostsFile(alone, nil)))
	}
	return err
}

// LeaveAll removes container containerID from every network it is on (it
// stopped or was removed) and rewrites the other members' hosts files; its
// own is left as it is.
func (s *Store) LeaveAll(containerID string) error {
	unlock, err := s.lockFor(containerID)
	if err != nil {
		return err
	}
	defer unlock()
	v, err := s.view()
	if err != nil {
		return err
	}
	// Every network's record of it, a damaged one too.
	var left []string
	var errs []error
	for _, netID := range v.nets {
		p := s.memberPath(netID, containerID)
		if err := os.Remove(p); err == nil {
			left = append(left, netID)
		} else if !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
		}
	}
	var others []string
	for _, netID := range left {
		recs, err := v.members(netID)
		errs = append(errs, err)
		if len(recs) > 0 && recs[0].Network == DefaultName {
			continue
		}
		for _, o := range recs {
			others = append(others, o.ContainerID)
		}
	}
	errs = append(errs, v.rewrite(nil, others...))
	return errors.Join(errs...)
}

// Members lists the members of network n, sorted by name.
func (s *Store) Members(n *Network) ([]Member, error) {
	recs, err := readMembers(s.membersDir(n.ID))
	if err != nil {
		return nil, err
	}
	out := make([]Member, len(recs))
	for i, r := range recs {
		out[i] = r.Member
	}
	return out, nil
}

// NetworksOf lists the ids of the networks container containerID is a
// member of.
func (s *Store) NetworksOf(containerID string) ([]string, error) {
	v, err := s.view()
	if err != nil {
		return nil, err
	}
	mine, err := v.recordsOf(containerID)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(mine))
	for i, r := range mine {
		out[i] = r.netID
	}
	return out, nil
}

func readMember(p string) (*memberRecord, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var r memberRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w member record %s: %w", ErrDamaged, p, err)
	}
	r.netID = filepath.Base(filepath.Dir(p))
	return &r, nil
}

// readMembers reads the member records in dir, sorted by name then id; a
// missing directory has none.
func readMembers(dir string) ([]memberRecord, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var recs []memberRecord
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		r, err := readMember(filepath.Join(dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrDamaged) {
			continue // gone meanwhile; or unreadable: not resolved
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, *r)
	}
	sort.Slice(recs, func(i, j int) bool {
		if recs[i].Name != recs[j].Name {
			return recs[i].Name < recs[j].Name
		}
		return recs[i].ContainerID < recs[j].ContainerID
	})
	return recs, nil
}

// view reads the members' records as needed, members lock held: each
// network's whole only when one of its members' hosts file is written.
type view struct {
	s    *Store
	nets []string // the networks that have members, sorted
	recs map[string][]memberRecord
	// lines are the others' lines of each network's members, made once.
	lines map[string][]string
}

func (s *Store) view() (*view, error) {
	ents, err := os.ReadDir(s.membersRoot())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", s.membersRoot(), err)
	}
	v := &view{s: s, recs: map[string][]memberRecord{}, lines: map[string][]string{}}
	for _, e := range ents {
		if e.IsDir() {
			v.nets = append(v.nets, e.Name())
		}
	}
	return v, nil
}

// members are the records of network netID.
func (v *view) members(netID string) ([]memberRecord, error) {
	recs, ok := v.recs[netID]
	if !ok {
		var err error
		if recs, err = readMembers(v.s.membersDir(netID)); err != nil {
			return nil, err
		}
		v.recs[netID] = recs
	}
	return recs, nil
}

// recordsOf reads container id's records, one per network it is on, first
// joined first.
func (v *view) recordsOf(id string) ([]memberRecord, error) {
	var mine []memberRecord
	for _, netID := range v.nets {
		if recs, ok := v.recs[netID]; ok {
			if i := slices.IndexFunc(recs, func(r memberRecord) bool { return r.ContainerID == id }); i >= 0 {
				mine = append(mine, recs[i])
			}
			continue
		}
		r, err := readMember(v.s.memberPath(netID, id))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrDamaged) {
			continue
		}
		if err != nil {
			return nil, err
		}
		mine = append(mine, *r)
	}
	sort.SliceStable(mine, func(i, j int) bool { return mine[i].Joined.Before(mine[j].Joined) })
	return mine, nil
}

// rewrite writes the hosts files of the members of network n if it is
// user-defined (on the default network nobody resolves the others), and of
// the containers more. A hosts file that is gone (a container removed
// without leaving) is skipped; an error does not stop the other files from
// being written. Each member's line is made once: a join to a network of N
// members writes N files of N lines.
func (v *view) rewrite(n *Network, more ...string) error {
	targets := map[string]bool{}
	if n != nil && n.UserDefined() {
		recs, err := v.members(n.ID)
		if err != nil {
			return err
		}
		for _, r := range recs {
			targets[r.ContainerID] = true
		}
	}
	for _, id := range more {
		targets[id] = true
	}
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(targets)) {
		self, others, ok, err := v.hostsOf(id)
		if ok {
			err = writeHosts(self.HostsPath, hostsFile(self, others))
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// hostsOf gathers what the hosts file of container id is made of: its own
// record on the network it joined first (as Docker), and the lines of the
// other members of every user-defined network it is on. False if it is on
// none.
func (v *view) hostsOf(id string) (self Member, others []string, ok bool, err error) {
	mine, err := v.recordsOf(id)
	if err != nil || len(mine) == 0 {
		return Member{}, nil, false, err
	}
	for _, r := range mine {
		if r.Network == DefaultName {
			continue
		}
		members, err := v.members(r.netID)
		if err != nil {
			return Member{}, nil, false, err
		}
		ls, made := v.lines[r.netID]
		if !made {
			ls = make([]string, len(members))
			for j, m := range members {
				ls[j] = m.line()
			}
			v.lines[r.netID] = ls
		}
		i := slices.IndexFunc(members, func(m memberRecord) bool { return m.ContainerID == id })
		others = slices.Grow(others, len(ls))
		for j, l := range ls {
			if j != i {
				others = append(others, l)
			}
		}
	}
	return mine[0].Member, others, true, nil
}

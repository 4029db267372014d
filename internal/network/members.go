package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sdocker/sdocker/internal/atomicfile"
)

// The members of a network live in <root>/networks/members/<network id>/,
// one <container id>.json each (a Member). One lock, members.lock beside
// the directory, orders every join and leave with the rewrites of the hosts
// files they cause: a container on two networks has one hosts file made
// from both, so a change on one network must see the other's members as
// they are.

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
}

// Join records m as a member of network n and rewrites, in place, the hosts
// file of m and of every other member of n: on a user-defined network each
// of them then resolves the others by name, alias and short id. Joining
// again replaces m's record (e.g. a new address after a restart).
func (s *Store) Join(n *Network, m Member) error {
	if err := checkFileName("network id", n.ID); err != nil {
		return err
	}
	if err := checkFileName("container id", m.ContainerID); err != nil {
		return err
	}
	m.Network = n.Name
	unlock, err := s.lockMembers()
	if err != nil {
		return err
	}
	defer unlock()
	dir := s.membersDir(n.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	rec := memberRecord{Member: m, Joined: time.Now().UTC()}
	if old, err := readMember(s.memberPath(n.ID, m.ContainerID)); err == nil {
		rec.Joined = old.Joined
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode member %s: %w", m.ContainerID, err)
	}
	if err := touch(m.HostsPath); err != nil {
		return err
	}
	if err := atomicfile.Write(s.memberPath(n.ID, m.ContainerID), b, 0o600, false); err != nil {
		return err
	}
	return s.rewrite(n.ID, m.ContainerID)
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
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	err = s.rewrite(n.ID, containerID)
	if nets, lerr := s.NetworksOf(containerID); lerr == nil && len(nets) == 0 {
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
	all, err := s.readAllMembers()
	if err != nil {
		return err
	}
	var errs []error
	for netID, recs := range all {
		for _, r := range recs {
			if r.ContainerID != containerID {
				continue
			}
			p := s.memberPath(netID, containerID)
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
				continue
			}
			errs = append(errs, s.rewrite(netID))
		}
	}
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
	all, err := s.readAllMembers()
	if err != nil {
		return nil, err
	}
	var out []string
	for netID, recs := range all {
		for _, r := range recs {
			if r.ContainerID == containerID {
				out = append(out, netID)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func readMember(p string) (*memberRecord, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var r memberRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
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
		if errors.Is(err, fs.ErrNotExist) {
			continue
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

// readAllMembers reads every network's members, by network id.
func (s *Store) readAllMembers() (map[string][]memberRecord, error) {
	ents, err := os.ReadDir(s.membersRoot())
	if errors.Is(err, fs.ErrNotExist) {
		return map[string][]memberRecord{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.membersRoot(), err)
	}
	all := map[string][]memberRecord{}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		recs, err := readMembers(filepath.Join(s.membersRoot(), e.Name()))
		if err != nil {
			return nil, err
		}
		all[e.Name()] = recs
	}
	return all, nil
}

// rewrite writes the hosts files of the members of network netID and of
// the containers more, from the records on disk; members lock held. A hosts
// file that is gone (a container removed without leaving) is skipped; an
// error does not stop the other files from being written.
func (s *Store) rewrite(netID string, more ...string) error {
	all, err := s.readAllMembers()
	if err != nil {
		return err
	}
	targets := map[string]bool{}
	for _, r := range all[netID] {
		targets[r.ContainerID] = true
	}
	for _, id := range more {
		targets[id] = true
	}
	ids := make([]string, 0, len(targets))
	for id := range targets {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var errs []error
	for _, id := range ids {
		if self, others, ok := hostsOf(all, id); ok {
			errs = append(errs, writeHosts(self.HostsPath, HostsFile(self, others)))
		}
	}
	return errors.Join(errs...)
}

// hostsOf gathers what the hosts file of container id is made of: its own
// line from the network it joined first (as Docker), and the members of
// every user-defined network it is on. False if it is on none.
func hostsOf(all map[string][]memberRecord, id string) (self Member, others []Member, ok bool) {
	var mine []memberRecord
	netIDs := make([]string, 0, len(all))
	for netID := range all {
		netIDs = append(netIDs, netID)
	}
	sort.Strings(netIDs)
	for _, netID := range netIDs {
		for _, r := range all[netID] {
			if r.ContainerID == id {
				mine = append(mine, r)
			}
		}
	}
	if len(mine) == 0 {
		return Member{}, nil, false
	}
	first := mine[0]
	for _, r := range mine[1:] {
		if r.Joined.Before(first.Joined) {
			first = r
		}
	}
	for _, netID := range netIDs {
		members := all[netID]
		if len(members) == 0 || members[0].Network == DefaultName || !hasMember(members, id) {
			continue
		}
		for _, o := range members {
			if o.ContainerID != id {
				others = append(others, o.Member)
			}
		}
	}
	return first.Member, others, true
}

func hasMember(recs []memberRecord, id string) bool {
	for _, r := range recs {
		if r.ContainerID == id {
			return true
		}
	}
	return false
}

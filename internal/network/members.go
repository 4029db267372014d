package network

import (
	"fmt"
	"os"
	"path/filepath"
)

// The members of a network live in <root>/networks/members/<network id>/,
// one <container id>.json each; <network id>.lock beside it orders their
// changes and the rewrites of their hosts files.

func (s *Store) membersDir(netID string) string {
	return filepath.Join(s.dir, "members", netID)
}

func (s *Store) membersLock(netID string) string {
	return filepath.Join(s.dir, "members", netID+".lock")
}

// removeMembers deletes what a removed network's members left.
func (s *Store) removeMembers(netID string) error {
	for _, p := range []string{s.membersDir(netID), s.membersLock(netID)} {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	return nil
}

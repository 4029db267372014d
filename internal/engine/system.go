package engine

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/image"
)

// ErrSameName is matched by the error of a rename to the name the
// container has.
var ErrSameName = errors.New("renaming a container with the same name as its current name")

// Rename gives container ref the name name, which no other container may
// have; a running container keeps running (its hostname does not change,
// as in Docker). The event is "rename", with the old name as oldName.
func (e *Engine) Rename(ref, name string) error {
	name = strings.TrimPrefix(name, "/")
	if !validName(name) {
		return fmt.Errorf("%w: invalid container name %q: use [a-zA-Z0-9][a-zA-Z0-9_.-]*", ErrInvalidInput, name)
	}
	r, err := e.Find(ref)
	if err != nil {
		return err
	}
	// The state lock keeps a concurrent update from writing the record
	// back with the old name; the store lock, another container from
	// taking the name meanwhile.
	return e.settled(r.ID, func(r *Record) error {
		unlock, err := e.lock()
		if err != nil {
			return err
		}
		defer unlock()
		if err := e.nameFree(name, r.ID); err != nil {
			return err
		}
		n, err := e.loadRecord(r.ID)
		if err != nil {
			return err
		}
		old := n.Name
		n.Name = name
		if err := e.save(n); err != nil {
			return err
		}
		e.event(n, "rename", "oldName", "/"+old)
		return e.renameOnNetworks(n.ID, name)
	})
}

// nameFree checks that no container has name, and that container id (to
// be renamed) does not have it already. The caller holds the store lock.
func (e *Engine) nameFree(name, id string) error {
	all, err := e.List()
	if err != nil {
		return err
	}
	for _, o := range all {
		switch {
		case o.Name != name:
		case o.ID == id:
			return fmt.Errorf("%w: %w: %q", ErrInvalidInput, ErrSameName, name)
		default:
			return fmt.Errorf("%w: %q is the name of container %s", ErrNameInUse, name, ids.ShortID(o.ID))
		}
	}
	return nil
}

// renameOnNetworks gives container id its new name on each network it is
// on: the other members' hosts files then resolve the new name.
func (e *Engine) renameOnNetworks(id, name string) error {
	s, err := e.Networks()
	if err != nil {
		return err
	}
	netIDs, err := s.NetworksOf(id)
	if err != nil {
		return err
	}
	var errs []error
	for _, netID := range netIDs {
		n, err := s.Get(netID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ms, err := s.Members(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, m := range ms {
			if m.ContainerID == id {
				m.Name = name
				errs = append(errs, s.Join(n, m))
			}
		}
	}
	return errors.Join(errs...)
}

// PruneContainers removes every container that does not run (exited or
// created), as `container prune` does, and returns their ids and the
// bytes their writable layers held. One that starts meanwhile is left.
func (e *Engine) PruneContainers() (removed []string, reclaimed int64, err error) {
	_ = e.Collect()
	all, err := e.List()
	if err != nil {
		return nil, 0, err
	}
	var errs []error
	for _, r := range all {
		if r.Status != StateExited && r.Status != StateCreated && r.Status != "" {
			continue
		}
		size, _ := e.SizeRw(r)
		if err := e.Remove(r.ID, false, false); err != nil {
			if !errors.Is(err, ErrWrongState) && !errors.Is(err, ErrNotFound) {
				errs = append(errs, err)
			}
			continue
		}
		removed = append(removed, r.ID)
		reclaimed += size
	}
	return removed, reclaimed, errors.Join(errs...)
}

// Diff lists the changes of container ref's file system over its image,
// as `docker diff` does (see image.Changes); the files the engine mounts
// over (/etc/hosts, ...) are not changes. A container on a rootfs
// directory has none of its own: ErrNoImage.
func (e *Engine) Diff(ref string) ([]image.Change, error) {
	var changes []image.Change
	err := e.WithSnapshot(ref, false, func(s Snapshot) error {
		if s.ImageID == "" {
			return fmt.Errorf("diff %s: %w", ref, ErrNoImage)
		}
		r, err := e.load(s.ID)
		if err != nil {
			return err
		}
		var lower []string
		if l := e.Overlay(r).Lower; l != "" {
			lower = filepath.SplitList(l)
		}
		changes, err = image.Changes(s.Upper, lower, s.MountPoints)
		return err
	})
	return changes, err
}

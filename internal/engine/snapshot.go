package engine

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/specgen"
)

// Snapshot is a container's file system held still for commit and export.
type Snapshot struct {
	ID      string // the container's
	ImageID string // "" for a container on a rootfs directory
	// Rootfs is the container's whole file system (its image's layers and
	// its changes, merged).
	Rootfs string
	// Upper holds the changes to the image (overlayfs format), "" without
	// an image.
	Upper string
	// MountPoints are the files the engine mounts over in the container
	// (etc/hosts, etc/resolv.conf, etc/hostname), relative to its root:
	// an empty one in Upper is a mount point, not a change.
	MountPoints []string
	// Config is the container's config, for the image a commit makes.
	Config *image.ContainerConfig
	// Owners maps the owners of files in Rootfs and Upper to those the
	// container sees (nil without a user namespace).
	Owners image.Owners
}

// WithSnapshot calls fn with container ref's file system. No start of the
// container begins before fn returns, and a running container is frozen
// meanwhile (as Docker's commit does) when freeze is set. The file system
// of a container that does not run is mounted for fn, and unmounted after.
func (e *Engine) WithSnapshot(ref string, freeze bool, fn func(Snapshot) error) error {
	r, err := e.Find(ref)
	if err != nil {
		return err
	}
	return e.settled(r.ID, func(r *Record) (err error) {
		s := Snapshot{ID: r.ID, ImageID: r.ImageID, Rootfs: r.Rootfs, Owners: containerOwners(r)}
		for _, m := range e.etcMounts(r) {
			s.MountPoints = append(s.MountPoints, strings.TrimPrefix(m.Destination, "/"))
		}
		if r.ImageID == "" {
			if r.Host.IDMappedRootfs != "" {
				// The directory itself, as it is on disk.
				s.Rootfs, s.Owners = r.Host.IDMappedRootfs, nil
			}
			return fn(s)
		}
		s.Upper = filepath.Join(e.containerDir(r.ID), "upper")
		var img *image.Image // an older record's config is read with it
		if r.Config == nil {
			if img, err = e.imageOf(r); err != nil {
				return err
			}
		}
		s.Config = containerConfig(r, img)
		if !isMounted(r.Rootfs) {
			if err := e.mountRootfs(r); err != nil {
				return fmt.Errorf("mount the file system of container %s: %w", ids.ShortID(r.ID), err)
			}
			defer func() { err = errors.Join(err, image.ReleaseRootfs(e.containerDir(r.ID))) }()
		}
		if freeze && r.Status == StateRunning && live(r) {
			cg, err := e.cgroupOf(r)
			if err != nil {
				return err
			}
			if err := cg.Freeze(); err != nil {
				return fmt.Errorf("freeze container %s: %w", ids.ShortID(r.ID), err)
			}
			defer func() {
				if terr := cg.Thaw(); terr != nil {
					err = errors.Join(err, fmt.Errorf("thaw container %s: %w", ids.ShortID(r.ID), terr))
				}
			}()
		}
		return fn(s)
	})
}

// ErrNoImage is matched by the error of a commit of a container that runs
// on a rootfs directory (it has no image to add a layer to).
var ErrNoImage = errors.New("the container runs on a rootfs directory, not an image")

// imageOf is the image of r, a container of an image.
func (e *Engine) imageOf(r *Record) (*image.Image, error) {
	store, err := e.Images()
	if err != nil {
		return nil, err
	}
	img, err := store.Get(r.ImageID)
	if err != nil {
		return nil, fmt.Errorf("the image of container %s: %w", ids.ShortID(r.ID), err)
	}
	return img, nil
}

// DockerConfig is r's config as Docker shows a container's: its image's
// (none for a container on a rootfs directory, or of an image removed
// since) with the container's own over it.
func (e *Engine) DockerConfig(r *Record) image.Config {
	img := e.lookupImage(r.ImageID)
	var c image.Config
	if img != nil {
		c = img.Config
	}
	return containerConfig(r, img).Over(c)
}

// containerConfig is r's config as Docker's container config has it: its
// image's (img, nil if none) with run's choices merged in.
func containerConfig(r *Record, img *image.Image) *image.ContainerConfig {
	c := &image.ContainerConfig{User: r.Host.User, Labels: r.Labels, StopSignal: r.Host.StopSignal, Healthcheck: r.Healthcheck}
	for _, p := range r.Ports {
		c.ExposedPorts = append(c.ExposedPorts, fmt.Sprintf("%d/%s", p.ContainerPort, p.Proto))
	}
	for _, m := range r.Mounts {
		if m.Anonymous {
			c.Volumes = append(c.Volumes, m.Destination)
		}
	}
	if p := r.Config; p != nil {
		c.Entrypoint, c.Cmd, c.Env, c.WorkingDir = p.Entrypoint, p.Cmd, p.Env, p.WorkingDir
		return c
	}
	// A record of before the config was kept: the spec's process, the
	// image's entrypoint told from the command if it starts it.
	var ic image.Config
	if img != nil {
		ic = img.Config
	}
	args := r.UserCommand()
	if ep := ic.Entrypoint; len(ep) > 0 && len(args) >= len(ep) && slices.Equal(args[:len(ep)], ep) {
		c.Entrypoint, args = ep, args[len(ep):]
	}
	c.Cmd = args
	if s := r.Spec; s != nil && s.Process != nil {
		c.Env, c.WorkingDir = ownEnv(s.Process.Env, ic.Env, r.Host.Tty), s.Process.Cwd
	}
	return c
}

// ownEnv is env without what the engine adds to a container's environment:
// HOSTNAME, TERM with a terminal, the default PATH where the image has none,
// and HOME (the user's home directory, or /root) unless it is the image's.
// A HOME of -e is not told from the engine's, and is left out too.
func ownEnv(env, imageEnv []string, tty bool) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		added := k == "HOSTNAME" || k == "HOME" || (tty && kv == "TERM=xterm") ||
			(kv == "PATH="+specgen.DefaultPath &&
				!slices.ContainsFunc(imageEnv, func(e string) bool { return strings.HasPrefix(e, k+"=") }))
		if !added || slices.Contains(imageEnv, kv) {
			out = append(out, kv)
		}
	}
	return out
}

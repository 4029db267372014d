package image

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// CommitOptions tune Commit.
type CommitOptions struct {
	// Changes are Dockerfile instructions applied to the new image's
	// config: CMD, ENTRYPOINT (JSON array, or a shell form run by
	// /bin/sh -c), ENV K=V, WORKDIR /dir, EXPOSE PORT[/PROTO]..., LABEL
	// K=V, USER NAME.
	Changes []string
	Comment string
	Author  string
	// MountPoints are the container's own file mount points (etc/hosts,
	// ...), left out of the layer while they are empty files.
	MountPoints []string
	// Container is the container's config, which the new image takes in
	// place of its parent's before Changes, as Docker's commit does. Nil
	// keeps the parent's.
	Container *ContainerConfig
	// Owners maps the owners of the container's files to those the layer
	// records (a container with a user namespace); nil: as they are.
	Owners Owners
}

// ContainerConfig is what a container's config says beyond its image's:
// the image's values with the container's own choices merged in.
type ContainerConfig struct {
	Entrypoint []string
	Cmd        []string
	Env        []string // the whole environment (the image's included)
	WorkingDir string
	User       string
	// ExposedPorts ("80/tcp"), Volumes (the container's anonymous volumes,
	// "/data") and Labels are added to the image's; StopSignal replaces
	// the image's when set.
	ExposedPorts []string
	Volumes      []string
	Labels       map[string]string
	StopSignal   string
	// Healthcheck is the container's (its image's with run's --health-*
	// options over it; a Test of NONE for --no-healthcheck); it replaces
	// the image's when set.
	Healthcheck *HealthConfig
}

// apply makes c the container's config.
func (cc *ContainerConfig) apply(c *v1.Config) {
	c.Entrypoint, c.Cmd, c.Env = cc.Entrypoint, cc.Cmd, cc.Env
	c.WorkingDir, c.User = cc.WorkingDir, cc.User
	c.ExposedPorts = withKeys(c.ExposedPorts, cc.ExposedPorts)
	c.Volumes = withKeys(c.Volumes, cc.Volumes)
	if len(cc.Labels) > 0 {
		c.Labels = maps.Clone(c.Labels)
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		maps.Copy(c.Labels, cc.Labels)
	}
	if cc.StopSignal != "" {
		c.StopSignal = cc.StopSignal
	}
	if cc.Healthcheck != nil {
		hc := *cc.Healthcheck
		hc.Test = slices.Clone(hc.Test)
		c.Healthcheck = &hc
	}
}

// Over is the config of a container of an image of config img, as Docker
// shows it (and as its commit makes the new image's): img with cc over
// it, as a commit applies it.
func (cc *ContainerConfig) Over(img Config) Config {
	c := v1.Config{
		Env: img.Env, Entrypoint: img.Entrypoint, Cmd: img.Cmd, WorkingDir: img.WorkingDir, User: img.User,
		Labels: img.Labels, StopSignal: img.StopSignal, Healthcheck: img.Healthcheck,
		ExposedPorts: withKeys(nil, img.ExposedPorts), Volumes: withKeys(nil, img.Volumes),
	}
	cc.apply(&c)
	return configOf(c)
}

// withKeys is set with keys added (a copy: set is not changed), nil when
// both are empty.
func withKeys(set map[string]struct{}, keys []string) map[string]struct{} {
	if len(keys) == 0 {
		return set
	}
	set = maps.Clone(set)
	if set == nil {
		set = map[string]struct{}{}
	}
	for _, k := range keys {
		set[k] = struct{}{}
	}
	return set
}

// Commit makes a new image of the image parent with one more layer: the
// container changes in upper (an overlayfs upper directory; deletions are
// written as whiteouts). name ("name[:tag]", may be empty) is given to it.
// When it fails, the store is as it was.
func (s *Store) Commit(parent, upper, name string, o CommitOptions) (*Image, error) {
	img, err := s.commitImage(parent, upper, name, o)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("commit: %w", err), s.dropUnused())
	}
	return img, nil
}

func (s *Store) commitImage(parent, upper, name string, o CommitOptions) (*Image, error) {
	var names []string
	if name != "" {
		n, err := normalizeName(name)
		if err != nil {
			return nil, err
		}
		names = []string{n}
	}
	done, err := s.Hold()
	if err != nil {
		return nil, err
	}
	defer done()
	raw, _, err := s.RawConfig(parent)
	if err != nil {
		return nil, err
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("image %s config: %w: %w", parent, err, ErrDamaged)
	}
	createdBy := "sdocker commit"
	if o.Container != nil {
		o.Container.apply(&cf.Config)
		createdBy = strings.Join(o.Container.Cmd, " ")
	}
	if err := applyChanges(&cf.Config, o.Changes); err != nil {
		return nil, err
	}
	diffID, err := s.unpackDiff(upper, o.MountPoints, o.Owners)
	if err != nil {
		return nil, err
	}
	h, err := v1.NewHash(diffID)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	cf.Created = v1.Time{Time: now}
	cf.Author = o.Author
	cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, h)
	cf.History = append(cf.History, v1.History{Created: v1.Time{Time: now}, CreatedBy: createdBy, Comment: o.Comment, Author: o.Author})
	out, err := json.Marshal(cf)
	if err != nil {
		return nil, err
	}
	var layers []string
	for _, d := range cf.RootFS.DiffIDs {
		layers = append(layers, d.String())
	}
	imgs, err := s.commit([]pendingImage{{raw: out, diffIDs: layers, names: names}})
	if err != nil {
		return nil, err
	}
	return imgs[0], nil
}

// unpackDiff stores upper as a layer and returns its diffID.
func (s *Store) unpackDiff(upper string, mountPoints []string, owners Owners) (string, error) {
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 1<<20)
		err := writeTree(bw, upper, true, mountPoints, owners)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	diffID, _, err := s.unpack(bufio.NewReaderSize(pr, 1<<20), "", nil)
	pr.CloseWithError(errImportStopped)
	if err != nil {
		return "", fmt.Errorf("the container's changes: %w", err)
	}
	return diffID, nil
}

// applyChanges applies --change instructions to c, as Docker's builder
// does: an ENTRYPOINT drops the command unless a CMD came before it, and
// when neither is left the command is c's again.
func applyChanges(c *v1.Config, changes []string) error {
	cmd := c.Cmd
	cmdSet := false
	for _, ch := range changes {
		if err := applyChange(c, ch, &cmdSet); err != nil {
			return fmt.Errorf("--change %q: %w: %w", ch, err, ErrInvalid)
		}
	}
	if len(c.Entrypoint) == 0 && len(c.Cmd) == 0 {
		c.Cmd = cmd
	}
	return nil
}

func applyChange(c *v1.Config, ch string, cmdSet *bool) error {
	instr, arg, _ := strings.Cut(strings.TrimSpace(ch), " ")
	arg = strings.TrimSpace(arg)
	if arg == "" {
		return errors.New("give the instruction's argument")
	}
	switch strings.ToUpper(instr) {
	case "CMD":
		v, err := commandForm(arg)
		c.Cmd, *cmdSet = v, true
		return err
	case "ENTRYPOINT":
		v, err := commandForm(arg)
		c.Entrypoint = v
		if !*cmdSet {
			c.Cmd = nil
		}
		return err
	case "ENV":
		k, v, ok := strings.Cut(arg, "=")
		if !ok {
			k, v, _ = strings.Cut(arg, " ")
		}
		if k == "" || strings.ContainsAny(k, " \t") {
			return errors.New("use ENV KEY=VALUE")
		}
		c.Env = slices.DeleteFunc(c.Env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		c.Env = append(c.Env, k+"="+unquote(strings.TrimSpace(v)))
	case "WORKDIR":
		if !strings.HasPrefix(arg, "/") {
			return errors.New("WORKDIR must be an absolute path")
		}
		c.WorkingDir = arg
	case "USER":
		c.User = arg
	case "EXPOSE":
		for _, p := range strings.Fields(arg) {
			port, proto, _ := strings.Cut(p, "/")
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("port %q: use PORT[/tcp|/udp]", p)
			}
			if proto == "" {
				proto = "tcp"
			}
			if proto != "tcp" && proto != "udp" && proto != "sctp" {
				return fmt.Errorf("port %q: protocol tcp, udp or sctp", p)
			}
			if c.ExposedPorts == nil {
				c.ExposedPorts = map[string]struct{}{}
			}
			c.ExposedPorts[port+"/"+proto] = struct{}{}
		}
	case "LABEL":
		k, v, ok := strings.Cut(arg, "=")
		if !ok || k == "" {
			return errors.New("use LABEL KEY=VALUE")
		}
		c.Labels = maps.Clone(c.Labels)
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[unquote(k)] = unquote(v)
	default:
		return fmt.Errorf("unknown instruction %q (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL)", instr)
	}
	return nil
}

// commandForm reads a JSON array, or a shell form run by /bin/sh -c.
func commandForm(arg string) ([]string, error) {
	if strings.HasPrefix(arg, "[") {
		var v []string
		if err := json.Unmarshal([]byte(arg), &v); err != nil {
			return nil, fmt.Errorf("not a JSON array of strings: %w", err)
		}
		return v, nil
	}
	return []string{"/bin/sh", "-c", arg}, nil
}

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil && strings.HasPrefix(s, `"`) {
		return u
	}
	return s
}

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/template"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/cgroups"
	"github.com/sdocker/sdocker/internal/dockerfmt"
	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/network"
)

func newRenameCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	return &cobra.Command{
		Use:     "rename CONTAINER NEW_NAME",
		Short:   "Rename a container",
		Long:    "Rename a container, running or not; on a user-defined network the others resolve its new name.",
		Example: "  sdocker rename web web-old",
		Args:    cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := openEngine()
			if err != nil {
				return err
			}
			return e.Rename(args[0], args[1])
		},
	}
}

func newDiffCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "List the files a container added (A), changed (C) or deleted (D) over its image",
		Long: `List the changes of a container's file system over its image, running or
not, a line a path as Docker writes them ("C /etc", "A /etc/app.conf",
"D /tmp/x"). The files sdocker mounts over (/etc/hosts, /etc/hostname,
/etc/resolv.conf) and the volumes are not changes. A container on a rootfs
directory has no layer of its own to compare: refused.`,
		Example: "  sdocker diff web",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := openEngine()
			if err != nil {
				return err
			}
			changes, err := e.Diff(args[0])
			if err != nil {
				return err
			}
			out := bufio.NewWriter(os.Stdout)
			for _, ch := range changes {
				fmt.Fprintf(out, "%s %s\n", ch.Kind, ch.Path)
			}
			return out.Flush()
		},
	}
}

func newContainerCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	c := &cobra.Command{
		Use:   "container COMMAND",
		Short: "Manage containers",
		Args:  cobra.NoArgs,
		RunE:  func(c *cobra.Command, args []string) error { return c.Help() },
	}
	var force bool
	prune := &cobra.Command{
		Use:     "prune [OPTIONS]",
		Short:   "Remove every stopped container",
		Example: "  sdocker container prune -f",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if !force && !confirm(os.Stdin, os.Stdout, "WARNING! This will remove all stopped containers.") {
				return nil
			}
			e, err := openEngine()
			if err != nil {
				return err
			}
			removed, size, err := e.PruneContainers()
			printList("Deleted Containers:", removed)
			if len(removed) > 0 {
				fmt.Println()
			}
			fmt.Printf("Total reclaimed space: %s\n", dockerfmt.HumanSize(float64(size)))
			return err
		},
	}
	prune.Flags().BoolVarP(&force, "force", "f", false, "do not ask for confirmation")
	c.AddCommand(prune)
	c.AddCommand(containerCommands(openEngine)...)
	return c
}

// containerCommands are the container commands again under `container`,
// as Docker has them: ps is also `container ls` (and list), and `container
// inspect` looks for containers only.
func containerCommands(openEngine func() (*engine.Engine, error)) []*cobra.Command {
	ls := newPsCommand(openEngine)
	ls.Use, ls.Aliases = "ls [OPTIONS]", []string{"ps", "list"}
	inspect := newInspectCommand(openEngine)
	_ = inspect.Flags().Set("type", "container") // a string flag: no error
	inspect.Short = "Show low-level information on containers (JSON)"
	cmds := []*cobra.Command{ls, inspect}
	for _, newCmd := range []func(func() (*engine.Engine, error)) *cobra.Command{
		newRunCommand, newCreateCommand, newAttachCommand, newExecCommand, newLogsCommand, newStatsCommand,
		newTopCommand, newPortCommand, newRmCommand, newCpCommand, newStartCommand, newStopCommand,
		newRestartCommand, newKillCommand, newWaitCommand, newPauseCommand, newUnpauseCommand,
		newUpdateCommand, newCommitCommand, newExportCommand, newRenameCommand, newDiffCommand,
	} {
		cmds = append(cmds, newCmd(openEngine))
	}
	return cmds
}

func newSystemCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	c := &cobra.Command{
		Use:   "system COMMAND",
		Short: "Manage sdocker's disk use",
		Args:  cobra.NoArgs,
		RunE:  func(c *cobra.Command, args []string) error { return c.Help() },
	}
	c.AddCommand(newSystemDfCommand(openEngine), newSystemPruneCommand(openEngine), newInfoCommand(openEngine))
	return c
}

func newSystemDfCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show the disk space images, containers and volumes use",
		Long: `Show the disk space of images (their layers' content), containers (what they
wrote over their image) and local volumes, and how much of it a prune could
reclaim: the images no container uses, the containers that do not run, the
volumes no container uses. --format takes "table", "table TEMPLATE", a Go
template or "json", with the fields .Type, .TotalCount, .Active, .Size and
.Reclaimable.`,
		Example: "  sdocker system df\n  sdocker system df --format json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			var f *dockerfmt.Format
			if format != "" {
				var err error
				if f, err = dockerfmt.ParseDiskUsageFormat(format); err != nil {
					return err
				}
			}
			e, err := openEngine()
			if err != nil {
				return err
			}
			entries, err := diskUsage(e)
			if err != nil {
				return err
			}
			out := bufio.NewWriter(os.Stdout)
			err = dockerfmt.WriteDiskUsage(out, f, entries)
			return errors.Join(err, out.Flush())
		},
	}
	c.Flags().StringVar(&format, "format", "", `"table", "table TEMPLATE", a Go template, or "json"`)
	return c
}

// diskUsage is what `system df` lists: images, containers, local volumes
// and the build cache (sdocker has none).
func diskUsage(e *engine.Engine) ([]dockerfmt.DiskUsageEntry, error) {
	_ = e.Collect()
	imgs, err := imageUsage(e)
	if err != nil {
		return nil, err
	}
	ctrs, err := containerUsage(e)
	if err != nil {
		return nil, err
	}
	vols, err := volumeUsage(e)
	if err != nil {
		return nil, err
	}
	return []dockerfmt.DiskUsageEntry{imgs, ctrs, vols, dockerfmt.NewDiskUsageEntry("Build Cache", 0, 0, 0, 0)}, nil
}

func imageUsage(e *engine.Engine) (dockerfmt.DiskUsageEntry, error) {
	s, err := e.Images()
	if err != nil {
		return dockerfmt.DiskUsageEntry{}, err
	}
	used, err := e.ImageUsers()
	if err != nil {
		return dockerfmt.DiskUsageEntry{}, err
	}
	list, err := s.List()
	if err != nil {
		return dockerfmt.DiskUsageEntry{}, err
	}
	var active int
	var size, unused int64
	for _, img := range list {
		size += img.Size
		if used[img.ID] {
			active++
		} else {
			unused += img.Size
		}
	}
	return dockerfmt.NewDiskUsageEntry("Images", len(list), active, size, unused), nil
}

func containerUsage(e *engine.Engine) (dockerfmt.DiskUsageEntry, error) {
	list, err := e.List()
	if err != nil {
		return dockerfmt.DiskUsageEntry{}, err
	}
	var active int
	var size, stopped int64
	for _, r := range list {
		rw, err := e.SizeRw(r)
		if err != nil {
			return dockerfmt.DiskUsageEntry{}, err
		}
		size += rw
		if r.Status == engine.StateRunning || r.Status == engine.StatePaused || r.Status == engine.StateRestarting {
			active++
		} else {
			stopped += rw
		}
	}
	return dockerfmt.NewDiskUsageEntry("Containers", len(list), active, size, stopped), nil
}

func volumeUsage(e *engine.Engine) (dockerfmt.DiskUsageEntry, error) {
	vols, err := e.Volumes()
	if err != nil {
		return dockerfmt.DiskUsageEntry{}, err
	}
	users, err := e.VolumeUsers()
	if err != nil {
		return dockerfmt.DiskUsageEntry{}, err
	}
	var active int
	var size, unused int64
	for _, v := range vols {
		n, err := e.VolumeSize(v.Name)
		if err != nil {
			return dockerfmt.DiskUsageEntry{}, err
		}
		size += n
		if len(users[v.Name]) > 0 {
			active++
		} else {
			unused += n
		}
	}
	return dockerfmt.NewDiskUsageEntry("Local Volumes", len(vols), active, size, unused), nil
}

func newSystemPruneCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var force, all, volumes bool
	c := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove stopped containers, unused networks and dangling images (-a: unused ones; --volumes: unused anonymous volumes)",
		Example: `  sdocker system prune -f
  sdocker system prune -af --volumes`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			warning := "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n"
			if volumes {
				warning += "  - all anonymous volumes not used by at least one container\n"
			}
			if all {
				warning += "  - all images without at least one container associated to them\n"
			} else {
				warning += "  - all dangling images\n"
			}
			if !force && !confirm(os.Stdin, os.Stdout, warning) {
				return nil
			}
			e, err := openEngine()
			if err != nil {
				return err
			}
			return systemPrune(e, all, volumes)
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "do not ask for confirmation")
	c.Flags().BoolVarP(&all, "all", "a", false, "remove every image no container uses, not only dangling ones")
	c.Flags().BoolVar(&volumes, "volumes", false, "remove the anonymous volumes no container uses too")
	return c
}

// systemPrune removes what `system prune` does, printing each kind as it
// goes, then the space reclaimed by the containers.
func systemPrune(e *engine.Engine, all, volumes bool) error {
	section := func(title string, names []string) {
		if len(names) > 0 {
			printList(title, names)
			fmt.Println()
		}
	}
	removed, size, err := e.PruneContainers()
	section("Deleted Containers:", removed)
	errs := []error{err}
	s, err := network.Open(e.Root)
	if err == nil {
		var nets []string
		nets, err = pruneNetworks(networkEnv{e: e, s: s, inUse: membersOf})
		section("Deleted Networks:", nets)
	}
	errs = append(errs, err)
	if volumes {
		vols, err := e.PruneVolumes(false)
		section("Deleted Volumes:", vols)
		errs = append(errs, err)
	}
	imgs, err := pruneImages(e, all)
	section("Deleted Images:", imgs)
	errs = append(errs, err)
	fmt.Printf("Total reclaimed space: %s\n", dockerfmt.HumanSize(float64(size)))
	return errors.Join(errs...)
}

// pruneImages removes the dangling images no container uses, and with all
// every image no container uses (name by name, so that one a container
// takes meanwhile keeps its last name), as lines of `system prune`.
func pruneImages(e *engine.Engine, all bool) ([]string, error) {
	store, inUse, err := openImagesInUse(func() (*engine.Engine, error) { return e, nil })
	if err != nil {
		return nil, err
	}
	var out []string
	var errs []error
	if all {
		list, err := store.List()
		if err != nil {
			return nil, err
		}
		for _, img := range list {
			for _, name := range img.Names {
				if inUse(img.ID) {
					break
				}
				res, err := store.Remove(name, false, inUse)
				if err != nil && !errors.Is(err, image.ErrInUse) {
					errs = append(errs, err)
				}
				for _, u := range res.Untagged {
					out = append(out, "untagged: "+u)
				}
				for _, d := range res.Deleted {
					out = append(out, "deleted: "+d)
				}
			}
		}
	}
	deleted, err := store.Prune(inUse)
	for _, d := range deleted {
		out = append(out, "deleted: "+d)
	}
	return out, errors.Join(append(errs, err)...)
}

func newInfoCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var format string
	return withFormat(&cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Show what sdocker holds and the host it runs on",
		Long: `Show how many containers (by state), images and volumes sdocker holds, and the
host it runs on: cgroup version, kernel, OS, CPUs, memory. --format takes a
Go template over Docker's fields (.Containers, .ContainersRunning,
.ContainersPaused, .ContainersStopped, .Images, .Volumes, .ServerVersion,
.Driver, .LoggingDriver, .CgroupDriver, .CgroupVersion, .KernelVersion,
.OperatingSystem, .OSType, .Architecture, .NCPU, .MemTotal, .Name,
.DockerRootDir) or "json".`,
		Example: "  sdocker info\n  sdocker info --format '{{.CgroupVersion}}'",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			tmpl, err := parseObjectFormat(format, dockerfmt.Info{})
			if err != nil {
				return err
			}
			e, err := openEngine()
			if err != nil {
				return err
			}
			i, err := info(e)
			if err != nil {
				return err
			}
			if tmpl != nil {
				return dockerfmt.WriteInspectTemplate(os.Stdout, tmpl, i)
			}
			return dockerfmt.WriteInfo(os.Stdout, i)
		},
	}, &format)
}

// info gathers what `info` shows.
func info(e *engine.Engine) (*dockerfmt.Info, error) {
	_ = e.Collect()
	list, err := e.List()
	if err != nil {
		return nil, err
	}
	i := &dockerfmt.Info{Containers: len(list), Driver: "overlay", LoggingDriver: "json-file", CgroupDriver: "cgroupfs",
		CgroupVersion: strconv.Itoa(cgroups.Mode()), OSType: runtime.GOOS, NCPU: runtime.NumCPU(),
		DockerRootDir: e.Root, ServerVersion: version, OperatingSystem: osName()}
	for _, r := range list {
		switch r.Status {
		case engine.StateRunning, engine.StateRestarting:
			i.ContainersRunning++
		case engine.StatePaused:
			i.ContainersPaused++
		default:
			i.ContainersStopped++
		}
	}
	s, err := e.Images()
	if err != nil {
		return nil, err
	}
	imgs, err := s.List()
	if err != nil {
		return nil, err
	}
	vols, err := e.Volumes()
	if err != nil {
		return nil, err
	}
	i.Images, i.Volumes = len(imgs), len(vols)
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		i.KernelVersion, i.Architecture = unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Machine[:])
	}
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err == nil {
		i.MemTotal = int64(si.Totalram) * int64(si.Unit)
	}
	i.Name, _ = os.Hostname()
	return i, nil
}

// osName is the host's PRETTY_NAME from os-release, or "Linux".
func osName() string {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				return strings.Trim(v, `"'`)
			}
		}
	}
	return "Linux"
}

// versionInfo is what `version` shows, with Docker's field names for
// --format ({{.Client.Version}}); daemonless, there is no server part.
type versionInfo struct {
	Client clientVersion
}

type clientVersion struct {
	Version   string
	GoVersion string
	Os        string
	Arch      string
}

func newVersionCommand() *cobra.Command {
	var format string
	return withFormat(&cobra.Command{
		Use:     "version [OPTIONS]",
		Short:   "Show the version of sdocker",
		Long:    `Show the version of sdocker. --format takes a Go template ({{.Client.Version}}, .GoVersion, .Os, .Arch) or "json".`,
		Example: "  sdocker version\n  sdocker version --format '{{.Client.Version}}'",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			v := versionInfo{Client: clientVersion{Version: version, GoVersion: runtime.Version(), Os: runtime.GOOS, Arch: runtime.GOARCH}}
			tmpl, err := parseObjectFormat(format, v)
			if err != nil {
				return err
			}
			if tmpl != nil {
				return dockerfmt.WriteInspectTemplate(os.Stdout, tmpl, v)
			}
			_, err = fmt.Printf("Client:\n Version:    %s\n Go version: %s\n OS/Arch:    %s/%s\n", version, v.Client.GoVersion, v.Client.Os, v.Client.Arch)
			return err
		},
	}, &format)
}

// withFormat gives c a --format flag stored in format.
func withFormat(c *cobra.Command, format *string) *cobra.Command {
	c.Flags().StringVarP(format, "format", "f", "", `a Go template, or "json"`)
	return c
}

// parseObjectFormat reads the --format of a command that shows one object
// (v, its zero value will do): nil without one, "json" is the object as
// JSON. A template that fails on v is refused before anything is read.
func parseObjectFormat(format string, v any) (*template.Template, error) {
	switch t := strings.TrimSpace(format); t {
	case "":
		return nil, nil
	case "json":
		format = "{{json .}}"
	}
	tmpl, err := dockerfmt.ParseTemplate(strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format))
	if err != nil {
		return nil, err
	}
	if err := dockerfmt.WriteInspectTemplate(io.Discard, tmpl, v); err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return nil, fmt.Errorf("%w: --format %q: %w", engine.ErrInvalidInput, format, err)
	}
	return tmpl, nil
}

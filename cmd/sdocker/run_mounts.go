package main

import (
	"github.com/spf13/pflag"

	"github.com/sdocker/sdocker/internal/engine"
)

// addMountFlags adds run's mount options: -v, --mount, --tmpfs,
// --read-only-tmpfs and --volumes-from.
func addMountFlags(f *pflag.FlagSet, o *engine.MountOptions) {
	f.StringArrayVarP(&o.Volumes, "volume", "v", nil, "mount HOST:CONTAINER (HOST a file or a directory; a missing one is created as a directory), NAME:CONTAINER (a named volume, made and filled from the image if new) or /CONTAINER (an anonymous volume); options :ro, :rw, :nocopy, or a bind propagation")
	f.StringArrayVar(&o.Mounts, "mount", nil, "mount type=bind|volume|tmpfs,src=,dst=[,readonly][,bind-propagation=][,volume-nocopy][,tmpfs-size=][,tmpfs-mode=]")
	f.StringArrayVar(&o.Tmpfs, "tmpfs", nil, "mount a tmpfs /CONTAINER[:OPTS] (nosuid,nodev,noexec; OPTS e.g. size=64m,mode=1777,exec)")
	f.BoolVar(&o.ReadOnlyTmpfs, "read-only-tmpfs", false, "with --read-only, mount tmpfs on /tmp, /var/tmp and /run")
	f.StringArrayVar(&o.VolumesFrom, "volumes-from", nil, "mount the volumes and binds of CONTAINER[:ro|rw]")
}

package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sdocker/sdocker/internal/engine"
)

// addIsolationFlags adds run's security, device and namespace flags
// (engine.IsolationOptions) to f.
func addIsolationFlags(f *pflag.FlagSet, o *engine.IsolationOptions) {
	f.StringArrayVar(&o.SecurityOpts, "security-opt", nil, "seccomp=unconfined|PROFILE.json, no-new-privileges[:true|false], label=disable, apparmor=unconfined")
	f.StringArrayVar(&o.Devices, "device", nil, "give the container a host device: HOST[:CONTAINER][:PERMISSIONS] (PERMISSIONS letters of rwm)")
	f.StringArrayVar(&o.DeviceCgroupRules, "device-cgroup-rule", nil, "allow devices in the device cgroup: 'TYPE MAJOR:MINOR ACCESS', e.g. 'c 1:3 rwm'")
	f.StringArrayVar(&o.Sysctls, "sysctl", nil, "set a namespaced sysctl KEY=VALUE (net.*, fs.mqueue.*, kernel.shm*, kernel.msg*, kernel.sem)")
	f.StringVar(&o.IPC, "ipc", "", "IPC namespace: private (default), shareable (others may join it), none, host or container:NAME (of a shareable one)")
	f.StringVar(&o.PID, "pid", "", "PID namespace: private (default), host or container:NAME")
	f.StringVar(&o.UTS, "uts", "", "UTS namespace: private (default), host or container:NAME")
	f.StringVar(&o.CgroupNS, "cgroupns", "", "cgroup namespace: private (default) or host")
	f.StringVar(&o.ShmSize, "shm-size", "", "size of /dev/shm with a unit, e.g. 128m (default 64m)")
	f.StringVar(&o.Userns, "userns", "", "user namespace: host (default), auto[:size=N] (a free range of the subordinate ids of user "+engine.DefaultSubIDUser+", or $SDOCKER_USERNS_USER), keep-id (rootless)")
	f.StringArrayVar(&o.UIDMap, "uidmap", nil, "map container uids to host uids in a user namespace: CONTAINER_ID:HOST_ID:SIZE (repeatable)")
	f.StringArrayVar(&o.GIDMap, "gidmap", nil, "map container gids to host gids in a user namespace: CONTAINER_ID:HOST_ID:SIZE (repeatable)")
}

// checkIsolationFlags refuses --hostname with a UTS namespace that is not
// the container's own: the name is the host's or the other container's.
func checkIsolationFlags(c *cobra.Command, o engine.IsolationOptions) error {
	if c.Flags().Changed("hostname") && o.UTS != "" && o.UTS != "private" {
		return fmt.Errorf("--hostname cannot be combined with --uts %s: the container has that namespace's name", o.UTS)
	}
	return nil
}

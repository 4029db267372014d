// Package launch turns an OCI runtime spec plus a root filesystem into a
// running container, and enters running containers.
//
// The parent side (Start, StartEarly and Finish, Exec; start.go) runs in the
// calling process; the in-namespace side (Main; init.go) runs in a fresh
// copy of the small sdocker-init binary (exe.go), recognised by its argv[0]
// (sdocker-init for a container's first process, sdocker-exec for an exec)
// before any command line parsing. The binary is handed to the clone
// through a read-only detached bind mount or a sealed memfd, so that a
// container never finds the host's file writable (CVE-2019-5736).
//
// # One form of every setting
//
// Everything the spec holds is read from the spec, the limits included
// (linux.resources): Options carries only what a spec lacks (stdio,
// preserved descriptors, the exec fifo, whether the process dies with its
// starter, whether Start makes the cgroups) and the caller's Callbacks.
//
// # The start, parent side
//
// The init is cloned before its config is ready, so that its Go runtime
// boots while the parent does the rest (the early start):
//
//  1. spawnChild opens the config pipe and the sync socket (SOCK_SEQPACKET)
//     and clones the init with the new namespaces of linux.namespaces (a pid
//     namespace given by path is joined by the forking thread; the cgroup
//     namespace is left to the init). It reads of the spec only
//     process.terminal, the id mappings and, on cgroup v2,
//     linux.resources. A new user namespace comes with the clone: the fork
//     writes its maps while the child waits, and makes the child its root;
//     the namespaces given by path are then joined by the forking thread
//     (joinBeforeUserns). A user namespace given by path is joined by the
//     init binary's entry point (userns.go), and the init unshares the
//     other new namespaces inside it.
//  2. cgroup v2: with Options.CreateCgroups the cgroup is made right before
//     the clone, which puts the init in it (CLONE_INTO_CGROUP), with the
//     spec's limits but pids.max. With StartEarly (sdocker-runc create and
//     run, which clone from the few fields earlySpec decodes while the whole
//     config.json is still being decoded and checked) the cgroup is made
//     without limits, and Finish writes them (cgroups.Manager.Set) while the
//     init waits for "placed".
//  3. configure (Finish for an early start) compiles linux.seccomp into a
//     BPF filter (refusing one under which the process could never start:
//     checkStartable), drops linux.resources and the seccomp profile from
//     the spec the init gets, and writes the config into the pipe.
//  4. place, while the init decodes its config: cgroup v1 makes the cgroups
//     with the spec's limits but pids.max (cgroups.Manager.Create); v2
//     started early writes the limits. The parent then sends "placed", with
//     (v1) an open descriptor of each hierarchy's tasks file, and one of the
//     init's pids.max when the spec has a pids limit; when the process dies
//     with its starter, only after the child said "armed" (its parent-death
//     signal is set), so that "placed" proves the parent still lived once
//     the signal was armed. The init joins its v1 cgroups itself, writing 0
//     into each tasks file: that moves its one thread without the kernel's
//     global threadgroup lock, whose write side (taken to move a process by
//     its pid) waits for an RCU grace period. Options.BeforePlaced, if
//     set, runs right before "placed": the wait for what the caller
//     started beside the init's boot and the container needs (pasta's
//     network).
//  5. Options.WhileStarting runs (the caller's state and pid files) while
//     the init sets the container up; then the parent follows the sync
//     socket: "console" (a pty master), "hooks" (it runs
//     Options.CreateRuntime and answers "continue" with the state), "ready"
//     (the init waits on the exec fifo: Start returns), "error" (a
//     StartError with the exit status), or end of file: the socket is
//     close-on-exec in the init, so the user's program replaced it.
//  6. With Options.Trace, the steps of the parent are marked on it as they
//     end (those during the init's, beside them), the init's come as
//     "trace" (see below), and the step it began after sending them ends
//     at the socket's end of file.
//
// # What the init receives
//
// argv[1] is the number of its first channel, right after the descriptors
// preserved for the container's program (3, 4, ...): the config pipe, the
// sync socket, the container's stderr, and one extra descriptor (the exec
// fifo of an init, a pidfd of the container's init for an exec). Its
// descriptor 2 is the sync socket until the last step, so that a fatal
// error of its Go runtime reaches the parent, which reports it in one line.
// Its environment is GOMAXPROCS=1, GOTRACEBACK=none and
// GODEBUG=asyncpreemptoff=1 (see sealForExec), and ArmDelayEnv, a fault
// injection for tests, when the starting command has it.
//
// The config (childConfig, message.go) and the sync messages are in a
// binary encoding of their own (wire.go), not JSON: varints, strings with
// their length, a presence byte before each optional value, the protocol
// number first (an init from another build is refused). Only the spec
// fields the init reads are carried (carriedSpecFields).
//
// # The init's steps (Main, childMain, setupContainer, finish)
//
//  1. Decode the config. When the process dies with its starter: the
//     parent-death signal (SIGKILL), then "armed". A parent that died
//     before the prctl never answers (getppid cannot tell: a parent
//     outside the pid namespace reads as 0, as does whoever adopts the
//     orphan), so the child never runs the user's program without it.
//  2. When WaitPlaced, wait for "placed", join the v1 cgroups whose tasks
//     files come with it, and keep the pids.max descriptor that comes
//     last; then the id-mapped mounts, made by the parent, in "mounts"
//     (idmap.go); umask 0.
//  3. Join the namespaces given by path (every file opened first, then
//     joined in runc's order: ipc, uts, net, mount, cgroup; a mount
//     namespace on this locked thread, given a file system context of its
//     own), a new session keyring, unshare the cgroup namespace (now that
//     it sits in its cgroups).
//  4. The rootfs (mount.go), resolved in the mount namespace joined: /
//     private, the rootfs bind-mounted, the spec's mounts, the devices;
//     then "hooks" and the createContainer hooks while paths still resolve
//     as the runtime's; pivot_root; sysctls; masked and read-only paths,
//     rootfs propagation, read-only root. Without a mount namespace (the
//     caller's, as runc): the caller's / untouched, the rootfs's bind mount
//     private, chroot instead of pivot_root, and once the last mount is
//     made (the console's, step 5) the tree is moved out of the caller's
//     mount table (detachRoot); an exec enters the init's root.
//  5. Hostname and domainname, lo up in a new network namespace, the
//     console (its pty master goes to the parent as "console").
//  6. The working directory, rlimits, oom_score_adj, the program looked up
//     in the container's PATH.
//  7. Everything execve needs, made now: the capability sets, the
//     groups, the argument and environment arrays (and the seccomp filter
//     run on that execve: one that would refuse it is an error,
//     checkExecve); personality and the process's umask.
//  8. The user, groups and capabilities (privileges.apply), no_new_privs.
//  9. With an exec fifo: "ready", then wait until it is read (OCI start),
//     then the startContainer hooks.
//  10. pids.max: the limit is written into the descriptor from "placed" by
//     a raw write (lateWrite), the last thing before execve, so that the
//     threads of the init's own Go runtime never count against it (or
//     before the wait on the exec fifo when there are no startContainer
//     hooks, so that it holds from create on).
//  11. sealForExec: descriptor 2 back to the container's stderr, every
//     descriptor but 0-2 and the preserved ones close-on-exec, the
//     original RLIMIT_NOFILE back. Then the seccomp filter, on this thread
//     only, and a raw execve, in nosplit code: with no_new_privs nothing of
//     the init's (nor of its Go runtime's) needs a system call after the
//     filter but execve.
//
// With cfg.Trace the init notes the end of each step (trace.Points; else
// that pointer is nil and a step costs a test of it) and sends them as
// "trace", by a raw sendto, right before the filter, naming in the message
// the steps still to come (the filter, execve), which the parent ends.
//
// Without no_new_privs the filter needs CAP_SYS_ADMIN (filterFirst): steps
// 9 and 10 (unless there are startContainer hooks, which run as the
// process's user, as with runc) and 11 come first, then the filter, then
// step 8 under it, then execve.
//
// # Exec
//
// Exec clones sdocker-exec in the container's pid namespace (the forking
// thread joins it through a pidfd of the init) and, on cgroup v2, into the
// container's cgroup (v1: it joins them itself, as the init does). Into a
// user-namespaced container, the entry point of the init binary joins the
// user namespace first (userns.go), before the Go runtime starts threads. It
// receives a spec of the process, the container's namespaces and its seccomp
// profile only; it joins the other namespaces through the pidfd (setns) and
// goes through steps 6, 7, 8 and 11. When the container has a pids limit,
// the exec is left out of the pids cgroup (v2: out of the cgroup) until it
// joins it itself, by a raw write of 0 to its tasks (v1) or cgroup.procs
// (v2) after step 6, while it still has the capabilities that moving every thread
// needs; with Options.Orphan it forks the program and exits, so that the
// container's init adopts it.
package launch

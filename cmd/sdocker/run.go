package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/specgen"
	"github.com/sdocker/sdocker/internal/trace"
)

// The seed's workloads, installed in the default rootfs.
const (
	cpuTestPath    = "/usr/bin/cpu-test"
	memoryTestPath = "/usr/bin/memory-test"
)

func newRunCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	return newRunLikeCommand(openEngine, false)
}

// newRunLikeCommand is run, or with create the create command: the same
// options, a container made but not started.
func newRunLikeCommand(openEngine func() (*engine.Engine, error), create bool) *cobra.Command {
	var o engine.RunOptions
	var cpuTest, memoryTest bool
	var memory, memorySwap string
	var memoryLimit int64
	var entrypoint string
	var envFiles, labels, logOpts []string
	var pull string
	var traced bool
	var pf processFlags
	var af attachFlags
	var rf resourceFlags
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] [IMAGE|ROOTFS] [COMMAND [ARG...]]",
		Short: "Run a command in a new container",
		Long: `Run a command in a new container on IMAGE (an image imported or loaded into
sdocker) or ROOTFS (a root file system directory: a path with a slash). Without
either the default rootfs is used (built from the host's binaries on first use,
see 'sdocker rootfs'); without COMMAND, the image's command, or bash.`,
		Example: `  sdocker run                                   # bash in the default rootfs
  sdocker run /var/lib/sdocker/rootfs/ ls -l /
  sdocker run -c --cpu-quota 20000 /var/lib/sdocker/rootfs/
  sdocker run -m --memory-limit 10485760 --memory-swappiness 0 /var/lib/sdocker/rootfs/
  sdocker run --rm --memory 64m --cpus 0.5 -e GREETING=hi /var/lib/sdocker/rootfs/ sh -c 'echo $GREETING'`,
		RunE: func(c *cobra.Command, args []string) error {
			if traced {
				o.Trace = trace.New()
			}
			if len(args) > 0 {
				o.Image, args = args[0], args[1:]
			}
			o.Args = args
			// create -i: Docker's StdinOnce (run -d -i keeps stdin open).
			o.StdinOnce = create && o.Interactive
			o.Detach = o.Detach || create
			if cpuTest && memoryTest {
				return fmt.Errorf("--cpu-test and --memory-test cannot be combined")
			}
			if (cpuTest || memoryTest) && len(o.Args) > 0 {
				return fmt.Errorf("--cpu-test and --memory-test run a workload: give no COMMAND")
			}
			if cpuTest {
				o.Args = []string{cpuTestPath}
			}
			if memoryTest {
				o.Args = []string{memoryTestPath}
			}
			if c.Flags().Changed("memory") {
				if c.Flags().Changed("memory-limit") {
					return fmt.Errorf("--memory and --memory-limit set the same limit: give one")
				}
				v, err := specgen.ParseBytes(memory)
				if err != nil {
					return fmt.Errorf("--memory: %w", err)
				}
				o.Limits.Memory = v
			} else {
				o.Limits.Memory = memoryLimit
				if c.Flags().Changed("memory-limit") && memoryLimit <= 0 {
					return fmt.Errorf("--memory-limit %d: must be a positive number of bytes", memoryLimit)
				}
			}
			if c.Flags().Changed("memory-swap") {
				v, err := specgen.ParseBytes(memorySwap)
				if err != nil {
					return fmt.Errorf("--memory-swap: %w", err)
				}
				o.Limits.MemorySwap = v
			}
			if err := rf.apply(c, &o.Limits.MoreLimits); err != nil {
				return err
			}
			if !o.Detach && !c.Flags().Changed("tty") && !c.Flags().Changed("interactive") &&
				engine.IsTerminal(os.Stdin) && engine.IsTerminal(os.Stdout) {
				o.Tty, o.Interactive = true, true
			}
			if c.Flags().Changed("entrypoint") {
				o.Entrypoint = &entrypoint
			}
			for _, f := range envFiles {
				env, err := readEnvFile(f)
				if err != nil {
					return err
				}
				o.Env = append(env, o.Env...)
			}
			process, fileLabels, err := pf.options(c)
			if err != nil {
				return err
			}
			o.Process = process
			if o.Log, err = engine.ParseLogOpts(logOpts); err != nil {
				return err
			}
			if err := checkIsolationFlags(c, o.Isolation); err != nil {
				return err
			}
			if all := append(fileLabels, labels...); len(all) > 0 {
				o.Labels = map[string]string{}
				for _, l := range all {
					k, v, _ := strings.Cut(l, "=")
					if k == "" {
						return fmt.Errorf("--label %q: use KEY=VALUE", l)
					}
					o.Labels[k] = v
				}
			}
			if o.Detach {
				o.Tty = c.Flags().Changed("tty") && o.Tty
			}
			o.Stdin, o.Stdout, o.Stderr = os.Stdin, os.Stdout, os.Stderr
			if err := af.apply(&o); err != nil {
				return err
			}
			img, err := ensureImage(openEngine, o.Image, pull)
			if err != nil {
				return err
			}
			o.Image = img
			e, err := openEngine()
			if err != nil {
				return err
			}
			o.Trace.Mark("options, image lookup")
			if create {
				return createContainer(e, o)
			}
			code, err := e.Run(o)
			if err != nil {
				return &exitError{code: code, err: err}
			}
			return exitCode(code)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&cpuTest, "cpu-test", "c", false, "run the cpu-test workload (burns one CPU)")
	f.BoolVarP(&memoryTest, "memory-test", "m", false, "run the memory-test workload (allocates 1 MiB more each step)")
	f.StringVarP(&o.Hostname, "hostname", "n", "sdocker", "hostname NAME: the container's hostname is NAME@<id>")
	f.Int64Var(&memoryLimit, "memory-limit", 0, "memory limit in BYTES")
	f.StringVar(&memory, "memory", "", "memory limit with a unit, e.g. 10m, 1g")
	f.StringVar(&memorySwap, "memory-swap", "", "memory plus swap limit (e.g. 20m), -1 for unlimited swap")
	f.Int64Var(&o.Limits.Swappiness, "memory-swappiness", -1, "memory swappiness 0..100 (cgroup v1 only)")
	f.Int64Var(&o.Limits.CPUPeriod, "cpu-period", 0, "CPU CFS period in microseconds")
	f.Int64Var(&o.Limits.CPUQuota, "cpu-quota", 0, "CPU CFS quota in microseconds per period, -1 for none")
	f.Float64Var(&o.Limits.CPUs, "cpus", 0, "number of CPUs, e.g. 0.5")
	f.Int64Var(&o.Limits.CPUShares, "cpu-shares", 0, "CPU shares (relative weight, 2..262144)")
	f.Int64Var(&o.Limits.PidsLimit, "pids-limit", 0, "maximum number of processes, -1 for none")
	f.StringVar(&o.Limits.CpusetCpus, "cpuset-cpus", "", "CPUs the container may use, e.g. 0-1 or 0,2")
	rf.add(f)
	f.StringArrayVarP(&o.Env, "env", "e", nil, "set an environment variable KEY=VALUE (or KEY to copy the host's)")
	f.StringVarP(&o.Workdir, "workdir", "w", "", "working directory inside the container (created if missing)")
	f.StringVar(&o.Network, "network", "bridge", "network: bridge (the default network), a network's name, none (lo only), host, or container:NAME_OR_ID")
	f.StringArrayVarP(&o.Publish, "publish", "p", nil, "publish a port: [IP:][HOSTPORT:]CTRPORT[/tcp|/udp], ports or ranges A-B")
	f.BoolVarP(&o.PublishAll, "publish-all", "P", false, "publish every port the image exposes on an ephemeral host port")
	f.StringArrayVar(&o.NetworkAliases, "network-alias", nil, "another name of the container on its network")
	f.StringVar(&o.IP, "ip", "", "the container's IPv4 address on a user-defined network")
	f.StringArrayVar(&o.ExtraHosts, "add-host", nil, "add a line to /etc/hosts: NAME:IP")
	f.StringArrayVar(&o.DNS.Nameservers, "dns", nil, "a nameserver of /etc/resolv.conf (replaces the host's)")
	f.StringArrayVar(&o.DNS.Search, "dns-search", nil, "a search domain of /etc/resolv.conf (replaces the host's; \".\" for none)")
	f.StringArrayVar(&o.DNS.Options, "dns-option", nil, "an option of /etc/resolv.conf (replaces the host's)")
	f.BoolVarP(&o.Interactive, "interactive", "i", false, "keep stdin attached (with -d or create: open, for attach)")
	f.BoolVarP(&o.Tty, "tty", "t", false, "allocate a pseudo-terminal (default when stdin and stdout are terminals)")
	f.StringVar(&o.Name, "name", "", "name of the container (default: generated)")
	f.BoolVar(&o.Remove, "rm", false, "remove the container when it exits")
	f.StringArrayVar(&o.CapAdd, "cap-add", nil, "add a capability (e.g. SYS_ADMIN, or ALL)")
	f.StringArrayVar(&o.CapDrop, "cap-drop", nil, "drop a capability (e.g. NET_RAW, or ALL)")
	f.BoolVar(&o.Privileged, "privileged", false, "all capabilities, no masked or read-only /proc paths")
	f.BoolVar(&o.ReadOnly, "read-only", false, "mount the root file system read-only")
	f.BoolVarP(&o.Detach, "detach", "d", false, "run in the background and print the container's id")
	if !create {
		f.BoolVar(&traced, "trace", false, "print each step of the start with its duration to stderr")
	}
	addMountFlags(f, &o.MountOptions)
	f.StringVarP(&o.User, "user", "u", "", "user to run as: UID[:GID] or NAME[:GROUP] of the container's /etc/passwd")
	f.StringVar(&entrypoint, "entrypoint", "", "replace the image's entrypoint (\"\" clears it)")
	f.StringArrayVar(&envFiles, "env-file", nil, "read KEY=VALUE lines from a file")
	f.StringVar(&o.Restart, "restart", "no", "restart policy with -d: no, on-failure[:N], always, unless-stopped")
	f.StringArrayVarP(&labels, "label", "l", nil, "set a label KEY=VALUE")
	f.StringArrayVar(&logOpts, "log-opt", nil, "rotate the log of a detached container: max-size=SIZE (default 20m, -1: none), max-file=N (default 2)")
	f.StringVar(&pull, "pull", pullMissing, "pull the image from its registry: missing, always or never")
	pf.add(f)
	af.add(f)
	addIsolationFlags(f, &o.Isolation)
	return cmd
}

// readEnvFile reads KEY=VALUE lines; blank lines and # comments are
// skipped. A KEY alone is kept as it is: the run options resolve it from
// the host's environment, as they do for -e KEY.
func readEnvFile(path string) ([]string, error) { return readKeyValueFile("--env-file", path) }

// readKeyValueFile reads the KEY=VALUE lines of the file of option flag
// (--env-file, --label-file); blank lines and # comments are skipped.
func readKeyValueFile(flag, path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	defer f.Close()
	var env []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, _ := strings.Cut(line, "=")
		if k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s %s: invalid line %q", flag, path, line)
		}
		env = append(env, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return env, nil
}

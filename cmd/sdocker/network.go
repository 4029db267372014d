package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/dockerfmt"
	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/ids"
	"github.com/sdocker/sdocker/internal/network"
)

// networkUsers names the containers that use network n: `network rm` and
// `network prune` refuse or skip a network in use. nil counts the running
// members recorded on the network (network.Store.Members).
type networkUsers func(e *engine.Engine, s *network.Store, n *network.Network) ([]string, error)

// membersOf is the default networkUsers: the containers recorded as
// running on n.
func membersOf(_ *engine.Engine, s *network.Store, n *network.Network) ([]string, error) {
	ms, err := s.Members(n)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms {
		name := m.Name
		if name == "" {
			name = ids.ShortID(m.ContainerID)
		}
		out = append(out, name)
	}
	return out, nil
}

// networkEnv is what every network command opens.
type networkEnv struct {
	e     *engine.Engine
	s     *network.Store
	inUse networkUsers
}

// collect has the engine clean up after containers whose command or
// monitor was killed, so that they are no longer on a network (as ps and
// inspect do; what it fails on, the next ps reports).
func (env networkEnv) collect() { _ = env.e.Collect() }

func (env networkEnv) users(n *network.Network) ([]string, error) {
	return env.inUse(env.e, env.s, n)
}

// newNetworkCommand is `sdocker network`; more are subcommands added by
// other parts (connect, disconnect).
func newNetworkCommand(openEngine func() (*engine.Engine, error), inUse networkUsers, more ...*cobra.Command) *cobra.Command {
	if inUse == nil {
		inUse = membersOf
	}
	open := func() (networkEnv, error) {
		e, err := openEngine()
		if err != nil {
			return networkEnv{}, err
		}
		s, err := network.Open(e.Root)
		if err != nil {
			return networkEnv{}, err
		}
		return networkEnv{e: e, s: s, inUse: inUse}, nil
	}
	c := &cobra.Command{
		Use:   "network",
		Short: "Manage networks",
		Long: `Manage bridge networks. "bridge" is the default network of 'sdocker run'; on a
network made with 'network create' the containers resolve one another by name,
alias and short id.`,
		Args: cobra.NoArgs,
	}
	c.AddCommand(
		newNetworkCreateCommand(open),
		newNetworkLsCommand(open),
		newNetworkInspectCommand(open),
		newNetworkRmCommand(open),
		newNetworkPruneCommand(open),
	)
	c.AddCommand(more...)
	return c
}

// listNetworks lists the networks that can be read, with a warning for
// each damaged definition.
func listNetworks(s *network.Store) ([]*network.Network, error) {
	nets, err := s.List()
	if errors.Is(err, network.ErrDamaged) {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(os.Stderr, "sdocker: warning: %s\n", line)
		}
		err = nil
	}
	return nets, err
}

func newNetworkCreateCommand(open func() (networkEnv, error)) *cobra.Command {
	var o network.CreateOptions
	var driver string
	var labels []string
	c := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a bridge network (prints its id)",
		Long: `Create a bridge network. Without --subnet a free one is chosen from
172.18.0.0/16-172.31.0.0/16, then 10.89.0.0/24-10.89.255.0/24; a subnet may not
overlap another network's, nor a route or an address of the host. The gateway is
the subnet's first address unless --gateway is given.`,
		Example: "  sdocker network create app\n  sdocker network create --subnet 10.10.0.0/24 --gateway 10.10.0.254 --internal --label env=test backend",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if driver != "bridge" {
				return fmt.Errorf("invalid driver %q: only bridge networks are supported", driver)
			}
			var err error
			if o.Labels, err = parseLabels(labels); err != nil {
				return err
			}
			env, err := open()
			if err != nil {
				return err
			}
			o.Name = args[0]
			n, err := env.s.Create(o)
			if err != nil {
				return err
			}
			fmt.Println(n.ID)
			return nil
		},
	}
	c.Flags().StringVarP(&driver, "driver", "d", "bridge", "the network driver (bridge only)")
	c.Flags().StringVar(&o.Subnet, "subnet", "", "the subnet, as CIDR (e.g. 10.10.0.0/24)")
	c.Flags().StringVar(&o.Gateway, "gateway", "", "the gateway's address in the subnet (default: its first)")
	c.Flags().BoolVar(&o.Internal, "internal", false, "no traffic to or from outside the network")
	c.Flags().StringArrayVar(&labels, "label", nil, "set a label, KEY=VALUE or KEY (repeatable)")
	return c
}

// parseLabels reads --label KEY=VALUE (or KEY, with an empty value).
func parseLabels(list []string) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, l := range list {
		k, v, _ := strings.Cut(l, "=")
		if strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("invalid --label %q: the key is empty", l)
		}
		m[k] = v
	}
	return m, nil
}

func newNetworkLsCommand(open func() (networkEnv, error)) *cobra.Command {
	var quiet, noTrunc bool
	var filters []string
	var format string
	c := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Long: `List networks. --filter KEY=VALUE keeps the networks that match: name (part
of the name), id (a prefix), label (KEY or KEY=VALUE), driver, type (custom or
builtin); several values of one key are alternatives, different keys must all
match. --format is a Go template over .ID, .Name, .Driver, .Scope, .Internal,
.IPv6, .Labels and .CreatedAt, or "json".`,
		Example: "  sdocker network ls\n  sdocker network ls -q --filter label=env=test\n  sdocker network ls --format '{{.Name}} {{.ID}}'",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			match, err := network.ParseFilters(filters)
			if err != nil {
				return err
			}
			env, err := open()
			if err != nil {
				return err
			}
			// The default network is listed from the first command on.
			if _, err := env.s.Default(); err != nil {
				fmt.Fprintf(os.Stderr, "sdocker: warning: %v\n", err)
			}
			nets, err := listNetworks(env.s)
			if err != nil {
				return err
			}
			var rows []dockerfmt.NetworkRow
			for _, n := range nets {
				if match(n) {
					rows = append(rows, dockerfmt.NewNetworkRow(n, noTrunc))
				}
			}
			out := bufio.NewWriter(os.Stdout)
			if format != "" && !quiet {
				err = dockerfmt.WriteNetworksFormat(out, format, rows)
			} else {
				err = dockerfmt.WriteNetworksTable(out, rows, quiet)
			}
			if ferr := out.Flush(); err == nil {
				err = ferr
			}
			return err
		},
	}
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print network ids only")
	c.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not shorten ids")
	c.Flags().StringArrayVarP(&filters, "filter", "f", nil, "keep the networks that match KEY=VALUE (name, id, label, driver, type)")
	c.Flags().StringVar(&format, "format", "", `a Go template, or "json"`)
	return c
}

func newNetworkInspectCommand(open func() (networkEnv, error)) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Show networks (JSON)",
		Long: `Show networks as a JSON array in the shape of 'docker network inspect': Name,
Id, Created, Scope, Driver, IPAM, Internal, Containers (the running ones),
Options, Labels. With --format, a Go template over those fields is applied to
each network instead, e.g. '{{range .IPAM.Config}}{{.Subnet}}{{end}}'.

The exit status is 1 when a network is not found (the ones found are still
shown) or the template fails.`,
		Example: "  sdocker network inspect bridge\n  sdocker network inspect -f '{{json .Containers}}' app",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			fail := func(err error) error { return &exitError{code: 1, err: err} }
			env, err := open()
			if err != nil {
				return err
			}
			env.collect()
			var tmpl *template.Template
			if format != "" {
				if tmpl, err = dockerfmt.ParseTemplate(format); err != nil {
					return fail(err)
				}
			}
			list := []*dockerfmt.NetworkJSON{}
			var errs []error
			for _, ref := range args {
				n, err := env.s.Get(ref)
				var ms []network.Member
				if err == nil {
					ms, err = env.s.Members(n)
				}
				if err != nil {
					errs = append(errs, err)
					continue
				}
				list = append(list, dockerfmt.InspectNetwork(n, ms))
			}
			w := bufio.NewWriter(os.Stdout)
			if tmpl == nil {
				err = dockerfmt.WriteInspectJSON(w, list)
			}
			for _, j := range list {
				if tmpl != nil && err == nil {
					err = dockerfmt.WriteInspectTemplate(w, tmpl, j)
				}
			}
			if ferr := w.Flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return fail(err)
			}
			if len(errs) > 0 {
				return fail(errors.Join(errs...))
			}
			return nil
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "", "format each network with a Go template")
	return c
}

// removeNetwork removes n unless a container uses it.
func removeNetwork(env networkEnv, n *network.Network) error {
	users, err := env.users(n)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return fmt.Errorf("network %s is in use by container %s", n.Name, strings.Join(users, ", "))
	}
	return removeNetworkAndBridge(env, n)
}

// removeNetworkAndBridge removes n's definition, then its bridge, rules and
// leases (network.RemoveBridge).
func removeNetworkAndBridge(env networkEnv, n *network.Network) error {
	if err := env.s.Remove(n.ID); err != nil {
		return err
	}
	return network.RemoveBridge(n)
}

func newNetworkRmCommand(open func() (networkEnv, error)) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NETWORK...",
		Aliases: []string{"remove"},
		Short:   "Remove networks (refused while a container uses one)",
		Example: "  sdocker network rm app",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			env, err := open()
			if err != nil {
				return err
			}
			env.collect()
			var errs []error
			for _, ref := range args {
				n, err := env.s.Get(ref)
				if err == nil {
					err = removeNetwork(env, n)
				} else if errors.Is(err, network.ErrDamaged) {
					err = env.s.Remove(ref) // no container can use it
				}
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Println(ref)
			}
			return errors.Join(errs...)
		},
	}
}

func newNetworkPruneCommand(open func() (networkEnv, error)) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:     "prune [OPTIONS]",
		Short:   "Remove the networks no container uses (never the default one)",
		Example: "  sdocker network prune -f",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if !force && !confirm(os.Stdin, os.Stdout, "WARNING! This will remove all custom networks not used by at least one container.") {
				return nil
			}
			env, err := open()
			if err != nil {
				return err
			}
			deleted, err := pruneNetworks(env)
			printList("Deleted Networks:", deleted)
			return err
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "do not ask for confirmation")
	return c
}

// pruneNetworks removes the user-defined networks no container uses and
// returns their names.
func pruneNetworks(env networkEnv) ([]string, error) {
	env.collect()
	nets, err := listNetworks(env.s)
	if err != nil {
		return nil, err
	}
	var deleted []string
	var errs []error
	for _, n := range nets {
		if !n.UserDefined() {
			continue
		}
		users, err := env.users(n)
		if err == nil && len(users) > 0 {
			continue
		}
		if err == nil {
			err = removeNetworkAndBridge(env, n)
		}
		if err != nil && !errors.Is(err, network.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		deleted = append(deleted, n.Name)
	}
	return deleted, errors.Join(errs...)
}

// printList prints a prune's title and the names under it, nothing when
// there are none.
func printList(title string, names []string) {
	if len(names) == 0 {
		return
	}
	fmt.Println(title)
	for _, n := range names {
		fmt.Println(n)
	}
}

// confirm asks a yes/no question as Docker's prune does; only "y" or "yes"
// is yes.
func confirm(in io.Reader, out io.Writer, warning string) bool {
	fmt.Fprintf(out, "%s\nAre you sure you want to continue? [y/N] ", warning)
	line, _ := bufio.NewReader(in).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}

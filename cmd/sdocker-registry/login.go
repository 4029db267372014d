package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/registry"
)

func newLoginCommand() *cobra.Command {
	var user, pass string
	var passStdin bool
	c := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Log in to a registry (credentials go to Docker's config.json)",
		Long: `Log in to a registry: the user and password are checked against it and stored
in Docker's config.json ($DOCKER_CONFIG or ~/.docker), or in the credential
helper config.json names for the registry. SERVER is HOST[:PORT]; without it,
the default registry.`,
		Example: "  sdocker login registry.example.com:5000     # asks for the user and password\n" +
			"  echo \"$TOKEN\" | sdocker login -u ci --password-stdin registry.example.com:5000",
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			in := bufio.NewReader(os.Stdin)
			switch {
			case passStdin && pass != "":
				return errors.New("--password and --password-stdin cannot be combined")
			case passStdin:
				line, err := in.ReadString('\n')
				if err != nil && line == "" {
					return fmt.Errorf("read the password from stdin: %w", err)
				}
				pass = strings.TrimRight(line, "\r\n")
			case engine.IsTerminal(os.Stdin):
				// As docker login: ask for what is not given.
				if err := prompt(in, "Username: ", &user, true); err != nil {
					return err
				}
				if err := prompt(in, "Password: ", &pass, false); err != nil {
					return err
				}
			}
			cfg, err := registry.LoadConfig("")
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			host, err := registry.Login(ctx, cfg, serverArg(args), user, pass)
			if err != nil {
				return err
			}
			fmt.Printf("Login Succeeded (%s)\n", host)
			return nil
		},
	}
	c.Flags().StringVarP(&user, "username", "u", "", "user name")
	c.Flags().StringVarP(&pass, "password", "p", "", "password (prefer --password-stdin)")
	c.Flags().BoolVar(&passStdin, "password-stdin", false, "read the password from stdin")
	return c
}

func newLogoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "logout [SERVER]",
		Short:   "Remove the credentials stored for a registry",
		Example: "  sdocker logout registry.example.com:5000",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := registry.LoadConfig("")
			if err != nil {
				return err
			}
			host, removed, err := registry.Logout(cfg, serverArg(args))
			if err != nil {
				return err
			}
			if !removed {
				fmt.Printf("Not logged in to %s\n", host)
				return nil
			}
			fmt.Printf("Removing login credentials for %s\n", host)
			return nil
		},
	}
}

func serverArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// prompt asks on the terminal for *v unless it is set; without echo, the
// typed text is not shown.
func prompt(in *bufio.Reader, label string, v *string, echo bool) error {
	if *v != "" {
		return nil
	}
	fmt.Fprint(os.Stderr, label)
	if !echo {
		fd := int(os.Stdin.Fd())
		t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil {
			return fmt.Errorf("read the terminal: %w", err)
		}
		quiet := *t
		quiet.Lflag &^= unix.ECHO
		if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
			return fmt.Errorf("set the terminal: %w", err)
		}
		defer func() {
			_ = unix.IoctlSetTermios(fd, unix.TCSETS, t) // best effort: the old settings back
			fmt.Fprintln(os.Stderr)
		}()
	}
	line, err := in.ReadString('\n')
	if err != nil && line == "" {
		return fmt.Errorf("read %s%w", strings.ToLower(label), err)
	}
	*v = strings.TrimRight(line, "\r\n")
	return nil
}

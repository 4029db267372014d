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
		Example: "  echo \"$TOKEN\" | sdocker login -u ci --password-stdin registry.example.com:5000",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if passStdin {
				if pass != "" {
					return errors.New("--password and --password-stdin cannot be combined")
				}
				line, err := bufio.NewReader(os.Stdin).ReadString('\n')
				if err != nil && line == "" {
					return fmt.Errorf("read the password from stdin: %w", err)
				}
				pass = strings.TrimRight(line, "\r\n")
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

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/image"
)

func newHistoryCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var noTrunc, quiet bool
	c := &cobra.Command{
		Use:     "history [OPTIONS] IMAGE",
		Short:   "Show the history of an image (newest step first)",
		Example: "  sdocker history busybox\n  sdocker history --no-trunc app:1",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			s, err := openImages(openEngine)
			if err != nil {
				return err
			}
			img, hist, err := s.History(args[0])
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
			if !quiet {
				fmt.Fprintln(w, "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
			}
			now := time.Now()
			for i := len(hist) - 1; i >= 0; i-- {
				h, id := hist[i], "<missing>"
				if i == len(hist)-1 {
					id = img.ShortID()
					if noTrunc {
						id = img.ID
					}
				}
				if quiet {
					fmt.Fprintln(w, id)
					continue
				}
				by := strings.ReplaceAll(h.CreatedBy, "\t", " ")
				if !noTrunc && len(by) > 45 {
					by = by[:44] + "…"
				}
				created := "N/A"
				if !h.Created.IsZero() {
					created = engine.HumanSince(h.Created, now)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", id, created, by, humanSize(h.Size), h.Comment)
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not shorten the output")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print the image ID only")
	return c
}

// imageJSON is an image in the shape of `docker image inspect`.
type imageJSON struct {
	ID           string          `json:"Id"`
	RepoTags     []string        `json:"RepoTags"`
	RepoDigests  []string        `json:"RepoDigests"`
	Created      string          `json:"Created"`
	Architecture string          `json:"Architecture"`
	Os           string          `json:"Os"`
	Size         int64           `json:"Size"`
	Config       imageConfigJSON `json:"Config"`
	RootFS       struct {
		Type   string   `json:"Type"`
		Layers []string `json:"Layers"`
	} `json:"RootFS"`
}

type imageConfigJSON struct {
	User         string              `json:"User"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts"`
	Env          []string            `json:"Env"`
	Cmd          []string            `json:"Cmd"`
	Volumes      map[string]struct{} `json:"Volumes"`
	WorkingDir   string              `json:"WorkingDir"`
	Entrypoint   []string            `json:"Entrypoint"`
	Labels       map[string]string   `json:"Labels"`
	StopSignal   string              `json:"StopSignal,omitempty"`
}

func toImageJSON(img *image.Image) imageJSON {
	j := imageJSON{
		ID: img.ID, RepoTags: append([]string{}, img.Names...), RepoDigests: append([]string{}, img.Digests...),
		Created: img.Created.UTC().Format(time.RFC3339Nano), Architecture: img.Architecture, Os: img.OS, Size: img.Size,
		Config: imageConfigJSON{
			User: img.Config.User, Env: img.Config.Env, Cmd: img.Config.Cmd, WorkingDir: img.Config.WorkingDir,
			Entrypoint: img.Config.Entrypoint, Labels: img.Config.Labels, StopSignal: img.Config.StopSignal,
		},
	}
	j.RootFS.Type, j.RootFS.Layers = "layers", img.Layers
	for _, set := range []struct {
		keys []string
		m    *map[string]struct{}
	}{{img.Config.ExposedPorts, &j.Config.ExposedPorts}, {img.Config.Volumes, &j.Config.Volumes}} {
		for _, k := range set.keys {
			if *set.m == nil {
				*set.m = map[string]struct{}{}
			}
			(*set.m)[k] = struct{}{}
		}
	}
	return j
}

func newImageInspectCommand(openEngine func() (*engine.Engine, error)) *cobra.Command {
	var format string
	return withFormat(&cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE...",
		Short: "Show images as JSON (docker image inspect's shape), or through a template",
		Long: `Show images as a JSON array in the shape of 'docker image inspect': Id,
RepoTags, RepoDigests, Created, Architecture, Os, Size, Config, RootFS. With
--format, a Go template is applied to each image, e.g. '{{.Id}}' or
'{{json .Config.Cmd}}'. The exit status is 1 when an image is not found (the
others are still shown).`,
		Example: "  sdocker image inspect busybox\n  sdocker image inspect -f '{{.Id}} {{.Os}}/{{.Architecture}}' busybox",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			s, err := openImages(openEngine)
			if err != nil {
				return err
			}
			var out []imageJSON
			var missing []error
			for _, ref := range args {
				img, err := s.Get(ref)
				if err != nil {
					if !errors.Is(err, image.ErrNotFound) && !errors.Is(err, image.ErrInvalid) {
						return err
					}
					missing = append(missing, err)
					continue
				}
				out = append(out, toImageJSON(img))
			}
			if err := printImages(out, format); err != nil {
				return &exitError{code: 1, err: err}
			}
			if len(missing) > 0 {
				return &exitError{code: 1, err: errors.Join(missing...)}
			}
			return nil
		},
	}, &format)
}

func withFormat(c *cobra.Command, format *string) *cobra.Command {
	c.Flags().StringVarP(format, "format", "f", "", "a Go template applied to each image")
	return c
}

// printImages prints imgs as a JSON array, or each through the template.
func printImages(imgs []imageJSON, format string) error {
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	if format == "" {
		if imgs == nil {
			imgs = []imageJSON{}
		}
		b, err := json.MarshalIndent(imgs, "", "    ")
		if err != nil {
			return err
		}
		w.Write(append(b, '\n'))
		return nil
	}
	tmpl, err := engine.ParseTemplate(format)
	if err != nil {
		return err
	}
	for _, img := range imgs {
		// Templates name fields as the JSON does ({{.Id}}, {{.Os}}).
		var doc map[string]any
		b, err := json.Marshal(img)
		if err == nil {
			err = json.Unmarshal(b, &doc)
		}
		if err != nil {
			return err
		}
		if err := tmpl.Option("missingkey=error").Execute(w, doc); err != nil {
			return fmt.Errorf("template: %w", err)
		}
		fmt.Fprintln(w)
	}
	return nil
}

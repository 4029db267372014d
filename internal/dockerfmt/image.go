package dockerfmt

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sdocker/sdocker/internal/image"
)

// ImageJSON is an image in the shape of `docker image inspect`.
type ImageJSON struct {
	ID           string          `json:"Id"`
	RepoTags     []string        `json:"RepoTags"`
	RepoDigests  []string        `json:"RepoDigests"`
	Created      string          `json:"Created"`
	Architecture string          `json:"Architecture"`
	Os           string          `json:"Os"`
	Size         int64           `json:"Size"`
	Config       ImageConfigJSON `json:"Config"`
	RootFS       RootFSJSON      `json:"RootFS"`
}

// ImageConfigJSON is what an image's config says about running it.
type ImageConfigJSON struct {
	User         string              `json:"User"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts"`
	Env          []string            `json:"Env"`
	Cmd          []string            `json:"Cmd"`
	Volumes      map[string]struct{} `json:"Volumes"`
	WorkingDir   string              `json:"WorkingDir"`
	Entrypoint   []string            `json:"Entrypoint"`
	Labels       map[string]string   `json:"Labels"`
	StopSignal   string              `json:"StopSignal,omitempty"`
	Healthcheck  *image.HealthConfig `json:"Healthcheck,omitempty"`
}

// RootFSJSON lists an image's layers (diffIDs, bottom first).
type RootFSJSON struct {
	Type   string   `json:"Type"`
	Layers []string `json:"Layers"`
}

// InspectImage is img as `docker image inspect` shows it.
func InspectImage(img *image.Image) *ImageJSON {
	return &ImageJSON{
		ID: img.ID, RepoTags: nonNil(img.Names), RepoDigests: nonNil(img.Digests),
		Created: timeJSON(img.Created), Architecture: img.Architecture, Os: img.OS, Size: img.Size,
		Config: ImageConfigJSON{
			User: img.Config.User, ExposedPorts: set(img.Config.ExposedPorts), Env: img.Config.Env,
			Cmd: img.Config.Cmd, Volumes: set(img.Config.Volumes), WorkingDir: img.Config.WorkingDir,
			Entrypoint: img.Config.Entrypoint, Labels: img.Config.Labels, StopSignal: img.Config.StopSignal,
			Healthcheck: img.Config.Healthcheck,
		},
		RootFS: RootFSJSON{Type: "layers", Layers: img.Layers},
	}
}

func nonNil(s []string) []string { return append([]string{}, s...) }

// set is keys as a JSON object of empty objects (Docker's ExposedPorts,
// Volumes); nil without keys.
func set(keys []string) map[string]struct{} {
	if len(keys) == 0 {
		return nil
	}
	m := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		m[k] = struct{}{}
	}
	return m
}

// WriteHistoryTable writes an image's history as `docker history` does:
// newest step first, the image's ID on the top one and <missing> below;
// with quiet the IDs alone. noTrunc shows full IDs and commands.
func WriteHistoryTable(w io.Writer, img *image.Image, hist []image.HistoryEntry, now time.Time, noTrunc, quiet bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	if !quiet {
		fmt.Fprintln(tw, "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
	}
	for i := len(hist) - 1; i >= 0; i-- {
		h, id := hist[i], "<missing>"
		if i == len(hist)-1 {
			id = img.ShortID()
			if noTrunc {
				id = img.ID
			}
		}
		if quiet {
			fmt.Fprintln(tw, id)
			continue
		}
		by := strings.ReplaceAll(h.CreatedBy, "\t", " ")
		if !noTrunc {
			by = Ellipsis(by, 45)
		}
		created := "N/A"
		if !h.Created.IsZero() {
			created = HumanSince(h.Created, now)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id, created, by, HumanSize(float64(h.Size)), h.Comment)
	}
	return tw.Flush()
}

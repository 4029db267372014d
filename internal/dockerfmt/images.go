package dockerfmt

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sdocker/sdocker/internal/image"
)

// WriteImagesTable writes list as `docker images` does: a row per name of
// each image (<none>:<none> for an unnamed one), or with quiet the short
// ids alone; with digests a DIGEST column too, and a row per digest
// reference of a repository without a name. An image that cannot be read
// (Damage) shows its size as "damaged".
func WriteImagesTable(w io.Writer, list []*image.Image, now time.Time, quiet, digests bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	switch {
	case quiet:
	case digests:
		fmt.Fprintln(tw, "REPOSITORY\tTAG\tDIGEST\tIMAGE ID\tCREATED\tSIZE")
	default:
		fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
	}
	for _, img := range list {
		if quiet {
			fmt.Fprintln(tw, img.ShortID())
			continue
		}
		created, size := HumanSince(img.Created, now), HumanSize(float64(img.Size))
		if img.Damage != nil {
			created, size = "N/A", "damaged"
		}
		for _, row := range imageRows(img, digests) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.Join(row, "\t"), img.ShortID(), created, size)
		}
	}
	return tw.Flush()
}

// imageRows are the REPOSITORY, TAG (and DIGEST) cells of an image's rows.
// The tag is after the last colon: a registry's port is not one.
func imageRows(img *image.Image, digests bool) [][]string {
	byRepo := map[string]string{}
	for _, d := range img.Digests {
		repo, dig, _ := strings.Cut(d, "@")
		byRepo[repo] = dig
	}
	var rows [][]string
	for _, n := range img.Names {
		i := strings.LastIndexByte(n, ':')
		row := []string{n[:i], n[i+1:]}
		if digests {
			row = append(row, orNone(byRepo[n[:i]]))
			delete(byRepo, n[:i])
		}
		rows = append(rows, row)
	}
	if digests {
		for _, d := range img.Digests {
			repo, dig, _ := strings.Cut(d, "@")
			if _, left := byRepo[repo]; left {
				rows = append(rows, []string{repo, "<none>", dig})
			}
		}
	}
	if len(rows) == 0 {
		row := []string{"<none>", "<none>"}
		if digests {
			row = append(row, "<none>")
		}
		rows = append(rows, row)
	}
	return rows
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// ImageEntry is a row of `images` as --format sees it: Docker's field
// names, every value a string.
type ImageEntry struct {
	Containers   string
	CreatedAt    string
	CreatedSince string
	Digest       string
	ID           string
	Repository   string
	SharedSize   string
	Size         string
	Tag          string
	UniqueSize   string
	VirtualSize  string
}

// ImagesHeader is the ImageEntry whose fields are the column titles.
var ImagesHeader = ImageEntry{
	Containers: "CONTAINERS", CreatedAt: "CREATED AT", CreatedSince: "CREATED", Digest: "DIGEST", ID: "IMAGE ID",
	Repository: "REPOSITORY", SharedSize: "SHARED SIZE", Size: "SIZE", Tag: "TAG", UniqueSize: "UNIQUE SIZE",
	VirtualSize: "SIZE",
}

// imagesTable is the template of `images --format table`.
const imagesTable = `{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}`

// ParseImagesFormat reads an images --format value (see ParseFormat).
func ParseImagesFormat(s string) (*Format, error) {
	return ParseFormat(s, imagesTable, ImagesHeader)
}

// ImageEntries are the rows `images` lists for list: one per name of each
// image (with its digest), or one <none> row for an unnamed one.
func ImageEntries(list []*image.Image, now time.Time) []ImageEntry {
	var out []ImageEntry
	for _, img := range list {
		created, size := HumanSince(img.Created, now), HumanSize(float64(img.Size))
		if img.Damage != nil {
			created, size = "N/A", "damaged"
		}
		for _, row := range imageRows(img, true) {
			out = append(out, ImageEntry{
				Containers: "N/A", CreatedAt: img.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
				CreatedSince: created, Digest: row[2], ID: img.ShortID(), Repository: row[0], SharedSize: "N/A",
				Size: size, Tag: row[1], UniqueSize: "N/A", VirtualSize: size,
			})
		}
	}
	return out
}

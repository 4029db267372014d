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
// ids alone. An image that cannot be read (Damage) shows its size as
// "damaged".
func WriteImagesTable(w io.Writer, list []*image.Image, now time.Time, quiet bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	if !quiet {
		fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
	}
	for _, img := range list {
		if quiet {
			fmt.Fprintln(tw, img.ShortID())
			continue
		}
		names := img.Names
		if len(names) == 0 {
			names = []string{"<none>:<none>"}
		}
		created, size := HumanSince(img.Created, now), HumanSize(float64(img.Size))
		if img.Damage != nil {
			created, size = "N/A", "damaged"
		}
		for _, n := range names {
			i := strings.LastIndex(n, ":")
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n[:i], n[i+1:], img.ShortID(), created, size)
		}
	}
	return tw.Flush()
}

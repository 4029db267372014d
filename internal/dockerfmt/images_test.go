package dockerfmt

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/internal/image"
)

func TestWriteImagesTable(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	list := []*image.Image{
		{ID: "sha256:" + strings.Repeat("a", 64), Names: []string{"box:1.0", "localhost:5000/box:latest"},
			Created: now.Add(-3 * time.Hour), Size: 12345},
		{ID: "sha256:" + strings.Repeat("b", 64), Created: now.Add(-2 * time.Second), Size: 999},
		{ID: "sha256:" + strings.Repeat("c", 64), Names: []string{"broken:x"}, Damage: errors.New("bad manifest")},
	}
	var b strings.Builder
	if err := WriteImagesTable(&b, list, now, false, false); err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		rows = append(rows, strings.Join(strings.Fields(l), " "))
	}
	want := []string{
		"REPOSITORY TAG IMAGE ID CREATED SIZE",
		"box 1.0 aaaaaaaaaaaa 3 hours ago 12.3kB",
		// The tag is after the last colon: a registry's port is not one.
		"localhost:5000/box latest aaaaaaaaaaaa 3 hours ago 12.3kB",
		"<none> <none> bbbbbbbbbbbb 2 seconds ago 999B",
		"broken x cccccccccccc N/A damaged",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("table:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	b.Reset()
	if err := WriteImagesTable(&b, list, now, true, false); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "aaaaaaaaaaaa\nbbbbbbbbbbbb\ncccccccccccc\n" {
		t.Errorf("quiet: %q", got)
	}
}

func TestWriteImagesTableDigests(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	dig := "sha256:" + strings.Repeat("d", 64)
	list := []*image.Image{
		{ID: "sha256:" + strings.Repeat("a", 64), Names: []string{"box:1", "other:2"}, Digests: []string{"box@" + dig}, Created: now},
		{ID: "sha256:" + strings.Repeat("b", 64), Digests: []string{"reg:5000/app@" + dig}, Created: now},
		{ID: "sha256:" + strings.Repeat("c", 64), Created: now},
	}
	var b strings.Builder
	if err := WriteImagesTable(&b, list, now, false, true); err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		rows = append(rows, strings.Join(strings.Fields(l), " "))
	}
	want := []string{
		"REPOSITORY TAG DIGEST IMAGE ID CREATED SIZE",
		"box 1 " + dig + " aaaaaaaaaaaa Less than a second ago 0B",
		"other 2 <none> aaaaaaaaaaaa Less than a second ago 0B",
		// Pulled by digest only: the repository, no tag.
		"reg:5000/app <none> " + dig + " bbbbbbbbbbbb Less than a second ago 0B",
		"<none> <none> <none> cccccccccccc Less than a second ago 0B",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("table:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
}

func TestImagesFormat(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	dig := "sha256:" + strings.Repeat("d", 64)
	list := []*image.Image{
		{ID: "sha256:" + strings.Repeat("a", 64), Names: []string{"box:1", "reg:5000/box:2"}, Digests: []string{"box@" + dig},
			Created: now.Add(-time.Hour), Size: 2000},
		{ID: "sha256:" + strings.Repeat("b", 64), Created: now, Size: 5},
	}
	write := func(format string) string {
		t.Helper()
		f, err := ParseImagesFormat(format)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := WriteFormat(&b, f, ImagesHeader, ImageEntries(list, now)); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if got := write(`{{.Repository}}:{{.Tag}} {{.ID}} {{.Digest}} {{.Size}} {{.CreatedSince}}`); got != "box:1 aaaaaaaaaaaa "+dig+" 2kB About an hour ago\n"+
		"reg:5000/box:2 aaaaaaaaaaaa <none> 2kB About an hour ago\n<none>:<none> bbbbbbbbbbbb <none> 5B Less than a second ago\n" {
		t.Errorf("template:\n%s", got)
	}
	if got := write(`table {{.Repository}}\t{{.Size}}`); !strings.HasPrefix(got, "REPOSITORY     SIZE\nbox            2kB\n") {
		t.Errorf("table:\n%q", got)
	}
	if got := strings.Split(write("json"), "\n")[0]; !strings.HasPrefix(got, `{"Containers":"N/A","CreatedAt":`) ||
		!strings.Contains(got, `"Repository":"box","SharedSize":"N/A","Size":"2kB","Tag":"1"`) {
		t.Errorf("json: %s", got)
	}
	if _, err := ParseImagesFormat("{{.Names}}"); err == nil {
		t.Error("a field images lack parsed")
	}
}

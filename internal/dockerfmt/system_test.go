package dockerfmt

import (
	"bytes"
	"strings"
	"testing"
)

func TestDiskUsage(t *testing.T) {
	entries := []DiskUsageEntry{
		NewDiskUsageEntry("Images", 3, 1, 3000000, 1000000),
		NewDiskUsageEntry("Containers", 2, 2, 12, 0),
		NewDiskUsageEntry("Build Cache", 0, 0, 0, 0),
	}
	if e := entries[0]; e.TotalCount != "3" || e.Active != "1" || e.Size != "3MB" || e.Reclaimable != "1MB (33%)" {
		t.Errorf("images: %+v", e)
	}
	if e := entries[1]; e.Reclaimable != "0B (0%)" || entries[2].Reclaimable != "0B" {
		t.Errorf("reclaimable: %+v %+v", e, entries[2])
	}
	var b bytes.Buffer
	if err := WriteDiskUsage(&b, nil, entries); err != nil {
		t.Fatal(err)
	}
	if ls := strings.Split(strings.TrimSpace(b.String()), "\n"); len(ls) != 4 || strings.Join(strings.Fields(ls[0]), " ") != "TYPE TOTAL ACTIVE SIZE RECLAIMABLE" ||
		strings.Join(strings.Fields(ls[1]), " ") != "Images 3 1 3MB 1MB (33%)" {
		t.Errorf("table:\n%s", b.String())
	}
	f, err := ParseDiskUsageFormat("json")
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := WriteDiskUsage(&b, f, entries[2:]); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != `{"Type":"Build Cache","TotalCount":"0","Active":"0","Size":"0B","Reclaimable":"0B"}`+"\n" {
		t.Errorf("json: %s", got)
	}
	if _, err := ParseDiskUsageFormat("table {{.Total}}"); err == nil {
		t.Error("a missing field parsed")
	}
}

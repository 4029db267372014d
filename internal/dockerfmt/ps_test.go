package dockerfmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/internal/atomicfile"
	"github.com/sdocker/sdocker/internal/engine"
)

// damagedRecord is the record List gives for a container whose state file
// path cannot be read for err.
func damagedRecord(id, path string, err error) *engine.Record {
	d := &engine.DamagedError{ID: id, File: atomicfile.AsDamage(path, err)}
	return &engine.Record{ID: id, Status: engine.StateDamaged, Damaged: d.Reason()}
}

func TestStatusString(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		r    engine.Record
		want string
	}{
		{engine.Record{Status: engine.StateRunning, StartedAt: now.Add(-3 * time.Second)}, "Up 3 seconds"},
		{engine.Record{Status: engine.StatePaused, StartedAt: now.Add(-5 * time.Minute)}, "Up 5 minutes (Paused)"},
		{engine.Record{Status: engine.StateRunning, StartedAt: now.Add(-5 * time.Second), Health: &engine.Health{Status: engine.HealthHealthy}}, "Up 5 seconds (healthy)"},
		{engine.Record{Status: engine.StateRunning, StartedAt: now.Add(-1 * time.Second), Health: &engine.Health{Status: engine.HealthStarting}}, "Up 1 second (health: starting)"},
		{engine.Record{Status: engine.StateRunning, StartedAt: now.Add(-time.Minute), Health: &engine.Health{Status: engine.HealthUnhealthy}}, "Up About a minute (unhealthy)"},
		// As Docker: a paused or exited container shows no health.
		{engine.Record{Status: engine.StatePaused, StartedAt: now.Add(-5 * time.Minute), Health: &engine.Health{Status: engine.HealthHealthy}}, "Up 5 minutes (Paused)"},
		{engine.Record{Status: engine.StateExited, StartedAt: now.Add(-time.Hour), FinishedAt: now.Add(-3 * time.Second), Health: &engine.Health{Status: engine.HealthUnhealthy}}, "Exited (0) 3 seconds ago"},
		{engine.Record{Status: engine.StateRestarting, ExitCode: 1, StartedAt: now.Add(-time.Hour), FinishedAt: now.Add(-2 * time.Second)}, "Restarting (1) 2 seconds ago"},
		{engine.Record{Status: engine.StateExited, ExitCode: 0, StartedAt: now.Add(-time.Hour), FinishedAt: now.Add(-3 * time.Second)}, "Exited (0) 3 seconds ago"},
		{engine.Record{Status: engine.StateExited, ExitCode: 137, StartedAt: now.Add(-time.Hour), FinishedAt: now.Add(-90 * time.Second)}, "Exited (137) About a minute ago"},
		{engine.Record{Status: engine.StateCreated}, "Created"},
		{engine.Record{Status: engine.StateExited, ExitCode: 127}, "Created"}, // never ran
		// Times that are not known are not 292 years ago.
		{engine.Record{Status: engine.StateRunning}, "Up"},
		{engine.Record{Status: engine.StateExited, ExitCode: 1, StartedAt: now.Add(-time.Hour)}, "Exited (1) N/A"},
		{engine.Record{Status: engine.StateRestarting, ExitCode: 2}, "Restarting (2) N/A"},
		{*damagedRecord(sampleRecord().ID, "/x/container.json", errors.New("unexpected end of JSON input")),
			"Damaged (container.json: unexpected end of JSON input)"},
	} {
		if got := StatusString(&tc.r, now); got != tc.want {
			t.Errorf("status of %+v = %q, want %q", tc.r, got, tc.want)
		}
	}
}

func TestHumanSince(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	if got := HumanSince(time.Time{}, now); got != "N/A" {
		t.Errorf("zero time: %q", got)
	}
	if got := HumanSince(now.Add(-3*time.Minute), now); got != "3 minutes ago" {
		t.Errorf("3 minutes: %q", got)
	}
	// A damaged record: no name, no times.
	p := NewPsEntry(damagedRecord(sampleRecord().ID, "/x/spec.json", errors.New("empty")), now, true)
	if p.RunningFor != "N/A" || p.CreatedAt != "N/A" || p.State != engine.StateDamaged || p.Status != "Damaged (spec.json: empty)" || len(p.ID) != 12 {
		t.Errorf("ps entry of a damaged container: %+v", p)
	}
}

func TestPsEntryAndFormat(t *testing.T) {
	r := sampleRecord()
	r.Command = []string{"sh", "-c", "while true; do sleep 1; done"} // what saveSpec keeps of the spec
	now := r.FinishedAt.Add(4 * time.Second)
	p := NewPsEntry(r, now, true)
	if p.ID != "0123456789ab" || p.Names != "web" || p.Image != "/srv/rootfs" || p.State != "exited" ||
		p.Status != "Exited (137) 4 seconds ago" || p.RunningFor != "7 seconds ago" || p.Labels != "a=1,b=2" ||
		p.Mounts != "/data,/logs" || p.Pid != "-" {
		t.Errorf("ps entry %+v", p)
	}
	if want := `"sh -c while true; d…"`; p.Command != want {
		t.Errorf("Command %s, want %s", p.Command, want)
	}
	if full := NewPsEntry(r, now, false); full.ID != r.ID || full.Command != `"sh -c while true; do sleep 1; done"` {
		t.Errorf("--no-trunc: %q %s", full.ID, full.Command)
	}
	if p.Label("b") != "2" || p.Label("zz") != "" || PsHeader.Label("b") != "LABEL" {
		t.Error("Label")
	}
	exec := func(f *PsFormat, v PsEntry) string {
		var b strings.Builder
		if err := f.Tmpl.Execute(&b, v); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	f, err := ParsePsFormat(`{{.ID}} {{.Names}} {{.Label "a"}}`)
	if err != nil || f.Table || f.JSON {
		t.Fatalf("ParsePsFormat: %+v %v", f, err)
	}
	if got := exec(f, p); got != "0123456789ab web 1" {
		t.Errorf("template: %q", got)
	}
	f, err = ParsePsFormat(`table {{.Names}}\t{{.Status}}`)
	if err != nil || !f.Table {
		t.Fatalf("table: %+v %v", f, err)
	}
	if got := exec(f, PsHeader); got != "NAMES\tSTATUS" {
		t.Errorf("table header %q", got)
	}
	if got := exec(f, p); got != "web\tExited (137) 4 seconds ago" {
		t.Errorf("table row %q", got)
	}
	if f, err = ParsePsFormat("json"); err != nil || !f.JSON {
		t.Errorf("json: %+v %v", f, err)
	}
	if f, err = ParsePsFormat("table"); err != nil || !f.Table || !strings.HasPrefix(exec(f, PsHeader), "CONTAINER ID\tIMAGE\tCOMMAND") {
		t.Errorf("bare table: %+v %v", f, err)
	}
	if _, err := ParsePsFormat("{{.Nope"); err == nil {
		t.Error("a broken --format parsed")
	}
	// JSON has Docker's field names and no unexported ones.
	b, _ := json.Marshal(p)
	for _, want := range []string{`"ID":"0123456789ab"`, `"Names":"web"`, `"RunningFor":"7 seconds ago"`, `"State":"exited"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("ps json lacks %s: %s", want, b)
		}
	}
}

func TestWritePs(t *testing.T) {
	r := sampleRecord()
	r.Command = r.Spec.Process.Args
	now := r.FinishedAt.Add(4 * time.Second)
	long := *r
	long.Name = "a-much-longer-name"
	entries := []PsEntry{NewPsEntry(r, now, true), NewPsEntry(&long, now, true)}
	write := func(format string) string {
		var b strings.Builder
		var err error
		if format == "" {
			err = WritePsTable(&b, entries)
		} else {
			f, perr := ParsePsFormat(format)
			if perr != nil {
				t.Fatal(perr)
			}
			err = WritePsFormat(&b, f, entries)
		}
		if err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	// Tables align their columns to the widest cell, header included.
	if got, want := write(`table {{.Names}}\t{{.State}}`), "NAMES                STATE\nweb                  exited\na-much-longer-name   exited\n"; got != want {
		t.Errorf("table:\n%q\nwant\n%q", got, want)
	}
	if got := write(""); !strings.HasPrefix(got, "CONTAINER ID   NAME                 PID   COMMAND") ||
		!strings.Contains(got, "\n0123456789ab   web                  -     \"sh -c echo hi\"   Exited (137) 4 seconds ago   7 seconds ago\n") {
		t.Errorf("default table:\n%s", got)
	}
	// A bare template: a line per container, no header.
	if got := write(`{{.Names}}:{{.Pid}}`); got != "web:-\na-much-longer-name:-\n" {
		t.Errorf("template: %q", got)
	}
	// json: one object per line.
	lines := strings.Split(strings.TrimSuffix(write("json"), "\n"), "\n")
	var p PsEntry
	if len(lines) != 2 || json.Unmarshal([]byte(lines[1]), &p) != nil || p.Names != "a-much-longer-name" {
		t.Errorf("json lines %q", lines)
	}
	// A field the entries lack is refused when parsed, before any listing.
	if f, err := ParsePsFormat(`{{.Nope}}`); err == nil || !errors.Is(err, engine.ErrInvalidInput) {
		t.Errorf("template of a missing field: %+v %v", f, err)
	}
}

func TestSizeString(t *testing.T) {
	for _, tc := range []struct {
		rw, img int64
		want    string
	}{
		{2, 1234567, "2B (virtual 1.23MB)"},
		{0, 0, "0B (virtual 0B)"},
		{12345, 5000000, "12.3kB (virtual 5.01MB)"},
	} {
		if got := SizeString(tc.rw, tc.img); got != tc.want {
			t.Errorf("SizeString(%d, %d) = %q, want %q", tc.rw, tc.img, got, tc.want)
		}
	}
}

func TestWritePsTableSize(t *testing.T) {
	var b strings.Builder
	if err := WritePsTable(&b, []PsEntry{{ID: "abc", Names: "web", Pid: "1", Size: "2B (virtual 1.23MB)"}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if !strings.HasSuffix(lines[0], "PORTS   SIZE") || !strings.HasSuffix(lines[1], "2B (virtual 1.23MB)") {
		t.Errorf("table with sizes:\n%s", b.String())
	}
}

package trace

import (
	"bytes"
	"strings"
	"testing"
)

func TestNilRecordsNothing(t *testing.T) {
	var tr *Trace
	tr.Mark("a")
	tr.MarkAt("b", 5)
	tr.Beside("c", tr.Since())
	if tr.Steps() != nil || tr.Total() != 0 || tr.Since() != 0 {
		t.Errorf("a nil trace recorded something")
	}
	var p *Points
	p.Mark("a") // must not panic
}

// TestPointsRoundTrip: the init's steps, encoded and appended to the
// parent's trace, follow its own and each other.
func TestPointsRoundTrip(t *testing.T) {
	tr := &Trace{begin: 100, last: 100}
	tr.MarkAt("clone", 150)
	p := &Points{}
	p.MarkAt("boot", 400)
	p.MarkAt("mount proc /proc", 420)
	p.MarkAt("clock went back", 410) // kept, as a step of no time
	if err := tr.Append(p.Marshal()); err != nil {
		t.Fatal(err)
	}
	tr.steps = append(tr.steps, Step{Name: "cgroup writes", Start: 200, End: 260, Depth: 1})
	tr.MarkAt("execve", 500)
	got := tr.Steps()
	want := []Step{
		{"clone", 100, 150, 0}, {"cgroup writes", 200, 260, 1}, {"boot", 150, 400, 0},
		{"mount proc /proc", 400, 420, 0}, {"clock went back", 420, 420, 0}, {"execve", 420, 500, 0},
	}
	// Sorted by start: the step beside the others comes where it began.
	want[1], want[2] = want[2], want[1]
	if len(got) != len(want) {
		t.Fatalf("steps %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if tr.Total() != 400 {
		t.Errorf("total %d, want 400", tr.Total())
	}
}

// TestAppendBadInput: a damaged encoding is an error, never a panic or a
// huge allocation.
func TestAppendBadInput(t *testing.T) {
	p := &Points{}
	p.MarkAt("step", 42)
	good := p.Marshal()
	bad := [][]byte{nil, {0xff}, {0xff, 0xff, 0xff, 0xff, 0x0f}, {1}, {1, 200, 'a'}, good[:len(good)-1]}
	for _, b := range bad {
		tr := New()
		if err := tr.Append(b); err == nil && len(b) != 0 {
			t.Errorf("Append(%v): no error", b)
		}
	}
	for i := range good {
		_ = New().Append(good[:i]) // no panic
	}
}

func TestWrite(t *testing.T) {
	tr := &Trace{begin: 0, last: 0}
	tr.MarkAt("clone", 1_500_000)
	tr.steps = append(tr.steps, Step{Name: "cgroup writes", Start: 1_600_000, End: 1_700_000, Depth: 1})
	tr.MarkAt("execve", 2_000_000)
	var b bytes.Buffer
	if err := tr.Write(&b); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"trace:         AT  STEP               DURATION",
		"trace:    0.000ms  clone               1.500ms",
		"trace:    1.500ms  execve              0.500ms",
		"trace:    1.600ms  | cgroup writes     0.100ms",
		"trace:             total               2.000ms",
	}
	got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Write:\n%s\nwant:\n%s", b.String(), strings.Join(want, "\n"))
	}
}

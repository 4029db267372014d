package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadJSON(t *testing.T) {
	dir := t.TempDir()
	type rec struct {
		ID   string `json:"id"`
		Size int    `json:"size"`
	}
	for _, c := range []struct {
		content string // "-" for no file
		reason  string
	}{
		{"-", "missing"},
		{"", "empty"},
		{" \n", "empty"},
		{`{"id": "ab`, "unexpected end of JSON input"},
		{"\x00garbage", "invalid character"},
		{"null", "null instead of an object"},
		{"[1]", "a JSON array instead of an object"},
		{`{"size": "big"}`, "field size: a JSON string where another type belongs"},
	} {
		p := filepath.Join(dir, "state.json")
		os.Remove(p)
		if c.content != "-" {
			if err := os.WriteFile(p, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		var r *rec
		err := ReadJSON(p, &r)
		var d *Damage
		if !errors.As(err, &d) || d.Reason() != c.reason && !strings.HasPrefix(d.Reason(), c.reason) {
			t.Errorf("%q: %v; want a damage %q", c.content, err, c.reason)
			continue
		}
		if got := err.Error(); got != p+": "+d.Reason() || strings.Contains(got, "engine.") || strings.Contains(got, "\n") {
			t.Errorf("%q: error %q", c.content, got)
		}
		if (c.content == "-") != errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%q: matches fs.ErrNotExist: %v", c.content, errors.Is(err, fs.ErrNotExist))
		}
	}
	p := filepath.Join(dir, "ok.json")
	if err := Write(p, []byte(`{"id":"x","size":3}`), 0o600, false); err != nil {
		t.Fatal(err)
	}
	var r *rec
	if err := ReadJSON(p, &r); err != nil || r.ID != "x" || r.Size != 3 {
		t.Errorf("read back %+v, %v", r, err)
	}
}

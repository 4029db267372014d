package ids

import "testing"

func TestShortID(t *testing.T) {
	for id, want := range map[string]string{
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": "0123456789ab",
		"0123456789ab": "0123456789ab",
		"abc":          "abc",
		"":             "",
	} {
		if got := ShortID(id); got != want {
			t.Errorf("ShortID(%q) = %q, want %q", id, got, want)
		}
	}
}

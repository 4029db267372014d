package engine

import (
	"fmt"
	"strings"
)

// DefaultDetachKeys is the sequence that ends `attach` unless
// --detach-keys says otherwise: ctrl-p, ctrl-q, as in Docker.
const DefaultDetachKeys = "ctrl-p,ctrl-q"

// ParseDetachKeys reads a --detach-keys value as Docker does: keys
// separated by commas, each one character or ctrl-X (X a letter or one of
// @ [ \ ] ^ _).
func ParseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		s = DefaultDetachKeys
	}
	var out []byte
	for _, k := range strings.Split(s, ",") {
		b, err := detachKey(k)
		if err != nil {
			return nil, fmt.Errorf("%w: --detach-keys %q: %w", ErrInvalidInput, s, err)
		}
		out = append(out, b)
	}
	return out, nil
}

func detachKey(k string) (byte, error) {
	if len(k) == 1 {
		return k[0], nil
	}
	x, ok := strings.CutPrefix(k, "ctrl-")
	if ok && len(x) == 1 {
		if c := x[0]; c >= 'a' && c <= 'z' {
			return c - 'a' + 1, nil
		} else if strings.IndexByte(`@[\]^_`, c) >= 0 {
			return c - '@', nil
		}
	}
	return 0, fmt.Errorf("unknown key %q (a character, or ctrl- and a letter or one of @[\\]^_)", k)
}

// detachMatcher finds a detach sequence in what is typed, across reads.
type detachMatcher struct {
	keys []byte
	n    int // keys matched so far
}

// feed tells whether b completes the sequence.
func (m *detachMatcher) feed(b []byte) bool {
	_, done := m.filter(b)
	return done
}

// filter tells whether b completes the sequence, and returns what of b
// (and of the reads before) is not part of it: the keys that may begin the
// sequence are held back until what follows tells (see held).
func (m *detachMatcher) filter(b []byte) (out []byte, done bool) {
	for _, c := range b {
		switch c {
		case m.keys[m.n]:
			m.n++
		case m.keys[0]:
			out = append(out, m.keys[:m.n]...)
			m.n = 1
		default:
			out = append(append(out, m.keys[:m.n]...), c)
			m.n = 0
		}
		if m.n == len(m.keys) {
			return out, true
		}
	}
	return out, false
}

// held is what filter holds back: the beginning of the sequence.
func (m *detachMatcher) held() []byte { return m.keys[:m.n] }

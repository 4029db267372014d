package ids

import (
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in         string
		want       uint32
		err        string // "" : accepted
		outOfRange bool   // the error is ErrRange
	}{
		{in: "0", want: 0},
		{in: "65534", want: 65534},
		{in: "2147483647", want: Max},
		{in: "007", want: 7},
		{in: "2147483648", err: "2147483648 is out of range (0-2147483647)", outOfRange: true},
		{in: "4294967295", err: "4294967295 is out of range", outOfRange: true}, // (uid_t)-1
		{in: "4294967296", err: "4294967296 is out of range", outOfRange: true}, // wraps to 0 as a uint32
		{in: "99999999999", err: "99999999999 is out of range", outOfRange: true},
		{in: "99999999999999999999999", err: "out of range", outOfRange: true}, // more than 64 bits
		{in: "-1", err: "-1 is out of range", outOfRange: true},
		{in: "-5", err: "-5 is out of range", outOfRange: true},
		{in: "-0", err: "out of range", outOfRange: true},
		{in: "", err: "empty id"},
		{in: "-", err: "not a number"},
		{in: "+5", err: "not a number"},
		{in: " 5", err: "not a number"},
		{in: "5 ", err: "not a number"},
		{in: "0x10", err: "not a number"},
		{in: "1e3", err: "not a number"},
		{in: "nobody", err: "not a number"},
		{in: "１２", err: "not a number"}, // full-width digits
	} {
		got, err := Parse(c.in)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("Parse(%q) = %d, %v; want %d", c.in, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("Parse(%q) = %d, %v; want an error with %q", c.in, got, err, c.err)
		case c.err != "" && errors.Is(err, ErrRange) != c.outOfRange:
			t.Errorf("Parse(%q): errors.Is(%v, ErrRange) = %v", c.in, err, !c.outOfRange)
		}
	}
}

func TestIsNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "123": true, "-1": true, "99999999999999999999": true,
		"": false, "-": false, "+1": false, "1a": false, "a1": false, "nobody": false, "1:2": false, "--1": false,
	} {
		if IsNumber(s) != want {
			t.Errorf("IsNumber(%q) = %v", s, !want)
		}
	}
}

func TestCheckUser(t *testing.T) {
	for _, c := range []struct {
		u   specs.User
		err string
	}{
		{u: specs.User{}},
		{u: specs.User{UID: Max, GID: Max, AdditionalGids: []uint32{0, Max}}},
		{u: specs.User{UID: 4294967295}, err: "process.user.uid: 4294967295 is out of range (0-2147483647)"},
		{u: specs.User{UID: 1 << 31}, err: "process.user.uid: 2147483648 is out of range"},
		{u: specs.User{UID: 1000, GID: 4294967295}, err: "process.user.gid: 4294967295 is out of range"},
		{u: specs.User{AdditionalGids: []uint32{1, 2, 4294967294}}, err: "process.user.additionalGids[2]: 4294967294 is out of range"},
	} {
		err := CheckUser(c.u)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.HasPrefix(err.Error(), c.err)) {
			t.Errorf("CheckUser(%+v) = %v; want %q", c.u, err, c.err)
		}
		if err != nil && !errors.Is(err, ErrRange) {
			t.Errorf("CheckUser(%+v) = %v: not ErrRange", c.u, err)
		}
	}
}

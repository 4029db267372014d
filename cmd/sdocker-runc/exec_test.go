package main

import (
	"strings"
	"testing"
)

func TestParseUser(t *testing.T) {
	for _, c := range []struct {
		in       string
		uid, gid uint32
		err      string // "" : accepted
	}{
		{in: "0"},
		{in: "1000", uid: 1000},
		{in: "1000:100", uid: 1000, gid: 100},
		{in: "2147483647:2147483647", uid: 2147483647, gid: 2147483647},
		{in: "4294967295", err: `--user "4294967295": uid: 4294967295 is out of range (0-2147483647)`},
		{in: "4294967295:4294967295", err: "uid: 4294967295 is out of range"},
		{in: "0:4294967295", err: `--user "0:4294967295": gid: 4294967295 is out of range`},
		{in: "4294967296", err: "uid: 4294967296 is out of range"}, // 0 as a uint32
		{in: "2147483648", err: "uid: 2147483648 is out of range"},
		{in: "99999999999", err: "uid: 99999999999 is out of range"},
		{in: "-1", err: "uid: -1 is out of range"},
		{in: "1:-5", err: "gid: -5 is out of range"},
		{in: "", err: "uid: empty id"},
		{in: "1000:", err: "gid: empty id"},
		{in: ":1000", err: "uid: empty id"},
		{in: "root", err: `uid: "root" is not a number (use UID[:GID] with numbers)`},
		{in: "1:2:3", err: `gid: "2:3" is not a number`},
	} {
		uid, gid, err := parseUser(c.in)
		switch {
		case c.err == "" && (err != nil || uid != c.uid || gid != c.gid):
			t.Errorf("%q: %d:%d, %v; want %d:%d", c.in, uid, gid, err, c.uid, c.gid)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: %d:%d, %v; want an error with %q", c.in, uid, gid, err, c.err)
		}
	}
}

func TestUintListRange(t *testing.T) {
	for in, want := range map[string]string{
		"-1":                        `"-1": not a number`,
		"99999999999999999999999":   `"99999999999999999999999": out of range`,
		"1,99999999999999999999999": "out of range",
	} {
		var l uintList
		if err := l.Set(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Set(%q): %v; want %q", in, err, want)
		}
	}
}

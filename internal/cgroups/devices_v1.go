package cgroups

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
)

// The v1 devices controller. Its files: "a" written to devices.deny makes
// the cgroup deny everything (and forgets the exceptions), to devices.allow
// allow everything; otherwise a line "c 1:3 rwm" adds an exception when
// its file is the opposite of the default, and takes access away from the
// exception with exactly that type:major:minor when it is not.
// devices.list shows the exceptions of a default-deny cgroup, and only
// "a *:* rwm" for a default-allow one.

// deviceWrite is one write to devices.allow or devices.deny.
type deviceWrite struct {
	file, line string
}

// v1DeviceWrites lists the writes that take a devices cgroup from cur to
// target. cur is nil when its exceptions are unknown (default allow: the
// kernel does not show them). Access is never widened on the way except by
// the mode switch: exceptions are taken away before others are added, so
// a running container keeps the devices that both states allow.
func v1DeviceWrites(cur *devicePolicy, target devicePolicy) []deviceWrite {
	add, remove := "devices.allow", "devices.deny"
	if target.allow {
		add, remove = remove, add
	}
	var ws []deviceWrite
	old := map[devKey]uint8{}
	if cur == nil || cur.allow != target.allow {
		ws = append(ws, deviceWrite{remove, "a"}) // the mode, without exceptions
	} else {
		old = cur.ex
	}
	for _, k := range (devicePolicy{ex: old}).keys() {
		if gone := old[k] &^ target.ex[k]; gone != 0 {
			ws = append(ws, deviceWrite{remove, k.String() + " " + accessString(gone)})
		}
	}
	for _, k := range target.keys() {
		if gained := target.ex[k] &^ old[k]; gained != 0 {
			ws = append(ws, deviceWrite{add, k.String() + " " + accessString(gained)})
		}
	}
	return ws
}

// parseDevicesList reads a devices.list: nil for a default-allow cgroup
// (its exceptions are not shown), else the default-deny policy it lists.
func parseDevicesList(s string) (*devicePolicy, error) {
	p := &devicePolicy{ex: map[devKey]uint8{}}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || len(f[0]) != 1 {
			return nil, fmt.Errorf("parse devices.list line %q", line)
		}
		if f[0] == "a" {
			return nil, nil
		}
		majS, minS, ok := strings.Cut(f[1], ":")
		major, err1 := parseDevNum(majS)
		minor, err2 := parseDevNum(minS)
		acc, okAcc := parseAccess(f[2])
		if !ok || err1 != nil || err2 != nil || !okAcc || (f[0] != "c" && f[0] != "b") {
			return nil, fmt.Errorf("parse devices.list line %q", line)
		}
		p.ex[devKey{f[0][0], major, minor}] |= acc
	}
	return p, nil
}

func parseDevNum(s string) (int64, error) {
	if s == "*" {
		return anyNum, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

// setDevicesV1 brings the devices cgroup dir to policy p, and checks the
// result in devices.list.
func setDevicesV1(dir string, p devicePolicy) error {
	read := func() (*devicePolicy, error) {
		s, err := readFile(dir, "devices.list")
		if err != nil {
			return nil, err
		}
		cur, err := parseDevicesList(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "devices.list"), err)
		}
		return cur, nil
	}
	cur, err := read()
	if err != nil {
		return err
	}
	for _, w := range v1DeviceWrites(cur, p) {
		if err := writeFile(dir, w.file, w.line); err != nil {
			return err
		}
	}
	after, err := read()
	if err != nil {
		return err
	}
	if (after == nil) != p.allow || (after != nil && !maps.Equal(after.ex, p.ex)) {
		s, _ := readFile(dir, "devices.list")
		return errors.New("devices cgroup " + dir + ": devices.list does not show the rules written: " + strconv.Quote(s))
	}
	return nil
}

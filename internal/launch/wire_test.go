package launch

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sdocker/sdocker/internal/seccomp"
)

// fill sets every field reachable from v (pointers, slices of two, maps of
// two entries) to a value that differs per field, so a codec that drops or
// swaps a field is caught.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := 0; i < 2; i++ {
			fill(v.Index(i), n)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for i := 0; i < 2; i++ {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(k, n)
			fill(e, n)
			v.SetMapIndex(k, e)
		}
	case reflect.String:
		v.SetString(strings.Repeat("x", *n%7) + "v" + string(rune('a'+*n%26)))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(uint64(*n))
	}
}

// project clears every field of the spec's types that carriedSpecFields
// does not name.
func project(v reflect.Value, carried map[string]bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			project(v.Elem(), carried)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			project(v.Index(i), carried)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			if !carried[v.Type().Name()+"."+f.Name] {
				v.Field(i).Set(reflect.Zero(f.Type))
				continue
			}
			project(v.Field(i), carried)
		}
	}
}

func carriedSet() map[string]bool {
	m := map[string]bool{}
	for _, f := range carriedSpecFields {
		m[f] = true
	}
	return m
}

func TestChildConfigRoundTrip(t *testing.T) {
	var spec specs.Spec
	n := 0
	fill(reflect.ValueOf(&spec).Elem(), &n)
	project(reflect.ValueOf(&spec).Elem(), carriedSet())
	prog := []unix.SockFilter{{Code: 0x20, K: 4}, {Code: 0x15, Jt: 1, Jf: 2, K: 0xc000003e}, {Code: 0x6, K: 0x7fff0000}}
	filter, err := seccomp.FromProgram(prog, 3)
	if err != nil {
		t.Fatal(err)
	}
	in := &childConfig{
		Protocol: protocol, ID: "c1", Spec: &spec, Winsize: &unix.Winsize{Row: 24, Col: 80, Xpixel: 1, Ypixel: 2},
		JoinFlags: unix.CLONE_NEWNET | unix.CLONE_NEWNS, KillWithParent: true, PreserveFDs: 2, ExecFifo: true,
		CreateRuntime: true, Seccomp: filter, Orphan: true, WaitPlaced: true, NewKeyring: true, Trace: true, LateWrite: "3",
		IDMapped: []int{0, 3},
	}
	out, err := unmarshalChildConfig(in.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out.Spec, in.Spec) {
		t.Errorf("spec changed in transit:\n got %+v\nwant %+v", out.Spec, in.Spec)
	}
	if !reflect.DeepEqual(out.Seccomp.Instructions(), prog) || out.Seccomp.Flags() != 3 {
		t.Errorf("seccomp filter changed in transit: %v flags %d", out.Seccomp.Instructions(), out.Seccomp.Flags())
	}
	out.Spec, out.Seccomp, in.Spec, in.Seccomp = nil, nil, nil, nil
	if !reflect.DeepEqual(out, in) {
		t.Errorf("config changed in transit:\n got %+v\nwant %+v", out, in)
	}

	// Every field of the list exists in the spec's types: a renamed field
	// must not leave a stale entry that carries nothing.
	known := map[string]bool{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || known[t.Name()] {
			return
		}
		known[t.Name()] = true
		for i := 0; i < t.NumField(); i++ {
			known[t.Name()+"."+t.Field(i).Name] = true
			walk(t.Field(i).Type)
		}
	}
	walk(reflect.TypeOf(specs.Spec{}))
	for _, f := range carriedSpecFields {
		if !known[f] {
			t.Errorf("carriedSpecFields names %s, which the runtime spec does not have", f)
		}
	}
}

func TestChildConfigMinimal(t *testing.T) {
	in := &childConfig{Protocol: protocol, Spec: &specs.Spec{Process: &specs.Process{Args: []string{"/bin/true"}}}}
	out, err := unmarshalChildConfig(in.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("got %+v, want %+v", out, in)
	}
}

func TestChildConfigCorrupt(t *testing.T) {
	var spec specs.Spec
	n := 0
	fill(reflect.ValueOf(&spec).Elem(), &n)
	project(reflect.ValueOf(&spec).Elem(), carriedSet())
	b := (&childConfig{Protocol: protocol, ID: "c1", Spec: &spec}).marshal()
	// Every truncation fails cleanly; none panics.
	for i := 1; i < len(b); i++ {
		if _, err := unmarshalChildConfig(b[:i]); err == nil {
			t.Fatalf("config truncated to %d of %d bytes decoded without error", i, len(b))
		}
	}
	if _, err := unmarshalChildConfig(append(b, 0)); err == nil {
		t.Error("config with a trailing byte decoded without error")
	}
	// A huge length must not make the decoder allocate it.
	huge := (&encoder{}).b
	e := &encoder{b: huge}
	e.uint(protocol)
	e.uint(1 << 60)
	if _, err := unmarshalChildConfig(e.b); err == nil {
		t.Error("config with a 2^60-byte id decoded without error")
	}
	// A different build's init says so instead of misreading the rest.
	old := &encoder{}
	old.uint(protocol - 1)
	old.str("whatever follows")
	c, err := unmarshalChildConfig(old.b)
	if err != nil || c.Protocol != protocol-1 {
		t.Errorf("older protocol: got %+v, %v; want the protocol number and no error", c, err)
	}
}

func TestSyncMessageRoundTrip(t *testing.T) {
	for _, m := range []syncMessage{
		{Type: "ready"},
		{Type: "error", Error: "exec /nope: no such file", Code: 127},
		{Type: "continue", State: []byte(`{"ociVersion":"1.2.0","id":"x"}`)},
	} {
		got, err := unmarshalSyncMessage(m.marshal())
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		if got.Type != m.Type || got.Error != m.Error || got.Code != m.Code || !bytes.Equal(got.State, m.State) {
			t.Errorf("got %+v, want %+v", got, m)
		}
	}
	if _, err := unmarshalSyncMessage([]byte{5, 'r'}); err == nil {
		t.Error("truncated message decoded without error")
	}
}

// The files that run in the child read only carried fields of the spec: a
// field the child starts using must be added to carriedSpecFields (and to
// the codec), or it would silently arrive empty.
func TestChildReadsOnlyCarriedFields(t *testing.T) {
	carriedNames := map[string]bool{}
	for _, f := range carriedSpecFields {
		carriedNames[f[strings.Index(f, ".")+1:]] = true
	}
	for _, f := range reflect.VisibleFields(reflect.TypeOf(childConfig{})) {
		carriedNames[f.Name] = true // cfg.Seccomp, cfg.CreateRuntime ...
	}
	dropped := map[string]string{}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] || t.PkgPath() != reflect.TypeOf(specs.Spec{}).PkgPath() {
			return
		}
		seen[t] = true
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !carriedNames[f.Name] {
				dropped[f.Name] = t.Name() + "." + f.Name
			}
			if f.Tag.Get("platform") == "" || strings.Contains(f.Tag.Get("platform"), "linux") {
				walk(f.Type) // not into other platforms' sections
			}
		}
	}
	walk(reflect.TypeOf(specs.Spec{}))
	// Names that other types in these files have too (unix.Stat_t.Mode).
	// The spec fields of the same name (LinuxMemoryPolicy.Mode) are only
	// reachable through a dropped parent field, which is checked.
	delete(dropped, "Mode")
	fset := token.NewFileSet()
	for _, file := range []string{"init.go", "mount.go", "caps.go", "console.go", "cgroupfs.go", "hooks.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		pkgs := map[string]bool{}
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			name := path[strings.LastIndex(path, "/")+1:]
			if imp.Name != nil {
				name = imp.Name.Name
			}
			pkgs[name] = true
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok && pkgs[x.Name] {
					return true // a package's name (specs.Mount, unix.Mount), not a field
				}
				if full, ok := dropped[sel.Sel.Name]; ok {
					t.Errorf("%s reads .%s (%s), which the child's config does not carry", fset.Position(sel.Pos()), sel.Sel.Name, full)
				}
			}
			return true
		})
	}
}

// TestInitOutput: what a child's Go runtime writes on its descriptor 2 (the
// sync socket until execve), one write per piece, comes to the parent as
// "output", and a fatal error with its stack becomes one line.
func TestInitOutput(t *testing.T) {
	socks, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(socks[0])
	crash := []string{"runtime: failed to create new OS thread (have 4 already; errno=11)\n",
		"runtime: may need to increase max user processes (ulimit -u)\n", "fatal error: ", "newosproc", "\n",
		"\ngoroutine 1 gp=0x1 m=0 [running, locked to thread]:\n", "runtime.throw({0x526a1a?, 0x1?})\n"}
	for _, p := range crash {
		if _, err := unix.Write(socks[1], []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	unix.Close(socks[1])
	var got strings.Builder
	for {
		m, _, ok, err := recvOnce(socks[0], 0)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if m.Type != "output" {
			t.Fatalf("message %+v, want output", m)
		}
		got.WriteString(m.Error)
	}
	if got.String() != strings.Join(crash, "") {
		t.Errorf("output %q, want %q", got.String(), strings.Join(crash, ""))
	}
	want := "container init died: fatal error: newosproc (runtime: failed to create new OS thread (have 4 already; errno=11))"
	if line := initDied(got.String()); line != want {
		t.Errorf("initDied = %q, want %q", line, want)
	}
	for in, want := range map[string]string{
		"panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n": "container init died: panic: boom",
		"something else\nand more\n":                           "container init died: something else",
	} {
		if line := initDied(in); line != want {
			t.Errorf("initDied(%q) = %q, want %q", in, line, want)
		}
	}
}

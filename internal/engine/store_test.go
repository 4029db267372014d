package engine

import (
	"errors"
	"os"
	"testing"
	"time"
)

// newTestContainer makes a container directory with a record in a store of
// its own, as create does, and returns the store and the held state lock.
func newTestContainer(t *testing.T, id string) (*Engine, *os.File) {
	t.Helper()
	e, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(e.containerDir(id), 0o700); err != nil {
		t.Fatal(err)
	}
	state, err := e.newStateLock(id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { state.Close() })
	if err := e.save(&Record{ID: id, Name: "c", Status: StateCreated}); err != nil {
		t.Fatal(err)
	}
	return e, state
}

// holdStateAsync calls holdState in the background.
func holdStateAsync(e *Engine, id string) chan error {
	got := make(chan error, 1)
	go func() {
		f, err := e.holdState(id)
		if err == nil {
			f.Close()
		}
		got <- err
	}()
	return got
}

// TestStateLockWaitsForStart: holdState waits while a start holds the
// state lock, and takes it once the start lets go.
func TestStateLockWaitsForStart(t *testing.T) {
	id := "0123456789ab" + "0123456789ab0123456789ab0123456789ab0123456789ab0123"
	e, start := newTestContainer(t, id)
	got := holdStateAsync(e, id)
	select {
	case err := <-got:
		t.Fatalf("holdState returned %v while a start holds the lock", err)
	case <-time.After(100 * time.Millisecond):
	}
	start.Close()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("holdState after the start: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("holdState did not return once the lock was free")
	}
}

// TestStateLockRemoved: a container removed while a command waited for
// its state lock is not found; nor is one without a directory.
func TestStateLockRemoved(t *testing.T) {
	id := "abcdef012345" + "0123456789ab0123456789ab0123456789ab0123456789ab0123"
	e, remover := newTestContainer(t, id)
	got := holdStateAsync(e, id)
	time.Sleep(50 * time.Millisecond)
	if err := e.remove(id); err != nil {
		t.Fatal(err)
	}
	remover.Close()
	select {
	case err := <-got:
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("holdState of a container removed meanwhile: %v, want ErrNotFound", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("holdState did not return once the lock was free")
	}
	if _, err := e.holdState(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("holdState of a removed container: %v, want ErrNotFound", err)
	}
}

// TestStateLockOlderContainer: a container of an older sdocker, without a
// state lock file, gets one.
func TestStateLockOlderContainer(t *testing.T) {
	id := "fedcba987654" + "0123456789ab0123456789ab0123456789ab0123456789ab0123"
	e, start := newTestContainer(t, id)
	start.Close()
	if err := os.Remove(e.stateLockPath(id)); err != nil {
		t.Fatal(err)
	}
	f, err := e.holdState(id)
	if err != nil {
		t.Fatalf("holdState of a container without a state lock file: %v", err)
	}
	defer f.Close()
	// Held: a start cannot begin.
	if _, err := e.newStateLock(id); err == nil {
		t.Error("newStateLock of a container whose state lock exists worked")
	}
	select {
	case err := <-holdStateAsync(e, id):
		t.Fatalf("a second holdState returned %v while the lock is held", err)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestFindFullID: a full id is found as it is (not listed), before a name;
// a full id of no container may still be a name; a damaged record found by
// its id says so; an id prefix and a name are found as before.
func TestFindFullID(t *testing.T) {
	id := "00aa11bb22cc" + "0123456789ab0123456789ab0123456789ab0123456789ab0123"
	e, _ := newTestContainer(t, id)
	other := "ffee11bb22cc" + "0123456789ab0123456789ab0123456789ab0123456789ab0123"
	hexName := "99aa11bb22cc" + "0123456789ab0123456789ab0123456789ab0123456789ab0123"
	if err := os.Mkdir(e.containerDir(other), 0o700); err != nil {
		t.Fatal(err)
	}
	// other is named with id: the container of that id comes first.
	if err := e.save(&Record{ID: other, Name: id, Status: StateCreated}); err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{id: id, other: other, "c": id, "00aa": id, "ffee": other} {
		if r, err := e.Find(ref); err != nil || r.ID != want {
			t.Errorf("Find(%s): %v, %v; want %s", ref, r, err, want)
		}
	}
	if err := e.save(&Record{ID: other, Name: hexName, Status: StateCreated}); err != nil {
		t.Fatal(err)
	}
	if r, err := e.Find(hexName); err != nil || r.ID != other {
		t.Errorf("Find of a name that is a full id of no container: %v, %v", r, err)
	}
	if _, err := e.Find("11" + id[2:]); !errors.Is(err, ErrNotFound) {
		t.Errorf("Find of a full id of no container: %v, want ErrNotFound", err)
	}
	if err := os.WriteFile(e.recordPath(other), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	var d *DamagedError
	if _, err := e.Find(other); !errors.As(err, &d) || d.ID != other {
		t.Errorf("Find of a damaged record by its id: %v, want a DamagedError", err)
	}
}

package atomicfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Damage is why a file that Write wrote cannot be used: it is missing, or
// what it holds is not what was written (a crash of the file system, a full
// disk, a hand edit).
type Damage struct {
	Path string
	Err  error // matches fs.ErrNotExist for a missing file
}

func (d *Damage) Error() string { return d.Path + ": " + d.Reason() }

func (d *Damage) Unwrap() error { return d.Err }

// Reason is the damage without the path: "missing", "empty", "unexpected
// end of JSON input"...
func (d *Damage) Reason() string {
	if errors.Is(d.Err, fs.ErrNotExist) {
		return "missing"
	}
	return d.Err.Error()
}

var (
	errEmpty = errors.New("empty")
	errNull  = errors.New("null instead of an object")
)

// AsDamage is err, the reason why the file at path cannot be used, as a
// *Damage (err itself if it is one).
func AsDamage(path string, err error) *Damage {
	var d *Damage
	if errors.As(err, &d) {
		return d
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is said once
	}
	return &Damage{Path: path, Err: err}
}

// ReadJSON reads the JSON document in path into v (a pointer). A file that
// is missing or cannot be read, or whose content DecodeJSON refuses, gives a
// *Damage.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return AsDamage(path, err)
	}
	return DecodeJSON(path, b, v)
}

// DecodeJSON decodes b, the content of the file at path, into v (a
// pointer). Content that is empty, null or does not decode into v gives a
// *Damage.
func DecodeJSON(path string, b []byte, v any) error {
	switch t := bytes.TrimSpace(b); {
	case len(t) == 0:
		return &Damage{Path: path, Err: errEmpty}
	case string(t) == "null":
		return &Damage{Path: path, Err: errNull}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return &Damage{Path: path, Err: decodeError(err)}
	}
	return nil
}

// decodeError words a JSON decoding error without Go's type names.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	switch {
	case !errors.As(err, &te):
		return err
	case te.Field == "":
		return fmt.Errorf("a JSON %s instead of an object", te.Value)
	}
	return fmt.Errorf("field %s: a JSON %s where another type belongs", te.Field, te.Value)
}

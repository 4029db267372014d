package image

import (
	"fmt"

	"github.com/sdocker/sdocker/internal/atomicfile"
)

// damagedError is the error of a store file that is missing or cannot be
// decoded: what it concerns, the file and why, and how to get rid of it.
type damagedError struct {
	what string // "image 0123456789ab", "the image names"
	file *atomicfile.Damage
	fix  string
}

func (d *damagedError) Error() string {
	return fmt.Sprintf("%s is damaged: %v (%s)", d.what, d.file, d.fix)
}

// Is makes errors.Is(err, ErrDamaged) hold.
func (d *damagedError) Is(target error) bool { return target == ErrDamaged }

// damagedImage is the error of image id whose file path cannot be used for
// err.
func damagedImage(id, path string, err error) error {
	return &damagedError{what: "image " + shortID(id), file: atomicfile.AsDamage(path, err), fix: "rmi -f " + shortID(id) + " removes it"}
}

// damagedNames is the error of a repositories.json that cannot be used for
// err.
func damagedNames(path string, err error) error {
	return &damagedError{what: "the list of image names", file: atomicfile.AsDamage(path, err),
		fix: "images can still be removed by ID with rmi -f; remove the file to forget every name"}
}

// nameError is a refused image name, worded as Docker words it.
type nameError struct {
	name, reason string
}

func (e *nameError) Error() string {
	msg := fmt.Sprintf("image name %q: %v", e.name, ErrInvalidName)
	if e.reason != "" {
		msg += ": " + e.reason
	}
	return msg
}

// Is makes errors.Is hold for ErrInvalidName and ErrInvalid.
func (e *nameError) Is(target error) bool { return target == ErrInvalidName || target == ErrInvalid }

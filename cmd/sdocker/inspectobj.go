package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sdocker/sdocker/internal/dockerfmt"
	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/image"
	"github.com/sdocker/sdocker/internal/network"
)

// inspectTypes are the values of inspect --type, in the order in which
// inspect looks a name up when no type is given (Docker's).
var inspectTypes = []string{"container", "image", "network", "volume"}

// errNoSuchObject is inspect's error for a name that is nothing it knows.
var errNoSuchObject = errors.New("no such object")

func checkInspectType(kind string) error {
	if kind != "" && !slices.Contains(inspectTypes, kind) {
		return fmt.Errorf("%w: --type %q: want %s", engine.ErrInvalidInput, kind, strings.Join(inspectTypes, ", "))
	}
	return nil
}

// inspectObject finds ref as the kind given ("" for the first of
// inspectTypes that has it) and returns its inspect JSON. A name that is
// not there gets the kind's own "no such" error, or errNoSuchObject when
// every kind was tried.
func inspectObject(e *engine.Engine, kind, ref string) (any, error) {
	kinds := inspectTypes
	if kind != "" {
		kinds = []string{kind}
	}
	for _, k := range kinds {
		v, err := inspectAs(e, k, ref)
		if err == nil || !isNotFound(err) || kind != "" {
			return v, err
		}
	}
	return nil, fmt.Errorf("%w: %s", errNoSuchObject, ref)
}

func inspectAs(e *engine.Engine, kind, ref string) (any, error) {
	switch kind {
	case "container":
		r, err := e.Find(ref)
		if err != nil {
			return nil, err
		}
		return dockerfmt.Inspect(e, r), nil
	case "image":
		s, err := e.Images()
		if err != nil {
			return nil, err
		}
		img, err := s.Get(ref)
		if err != nil {
			return nil, err
		}
		return dockerfmt.InspectImage(img), nil
	case "network":
		s, err := network.Open(e.Root)
		if err != nil {
			return nil, err
		}
		n, err := s.Get(ref)
		if err != nil {
			return nil, err
		}
		ms, err := s.Members(n)
		if err != nil {
			return nil, err
		}
		return dockerfmt.InspectNetwork(n, ms), nil
	}
	v, err := e.Volume(ref)
	if err != nil {
		return nil, err
	}
	return dockerfmt.InspectVolume(v), nil
}

// isNotFound tells whether err says a name is not of its kind, so that
// inspect tries the next kind.
func isNotFound(err error) bool {
	for _, target := range []error{engine.ErrNotFound, image.ErrNotFound, image.ErrInvalid, image.ErrInvalidName,
		network.ErrNotFound, network.ErrInvalid, engine.ErrVolumeNotFound} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

package main

import (
	"fmt"
	"path"
	"strings"

	"github.com/sdocker/sdocker/internal/image"
)

// filterImages keeps the images every filter (KEY=VALUE, as docker images
// --filter) accepts: dangling=true|false, reference=PATTERN (a glob on
// NAME or NAME:TAG; the other names of a kept image are not shown),
// label=KEY[=VALUE], before=IMAGE, since=IMAGE.
func filterImages(s *image.Store, list []*image.Image, filters []string) ([]*image.Image, error) {
	var keep []func(*image.Image) bool
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		if !ok || v == "" {
			return nil, fmt.Errorf("--filter %q: use KEY=VALUE", f)
		}
		fn, err := imageFilter(s, k, v)
		if err != nil {
			return nil, fmt.Errorf("--filter %q: %w", f, err)
		}
		keep = append(keep, fn)
	}
	var out []*image.Image
next:
	for _, img := range list {
		for _, fn := range keep {
			if !fn(img) {
				continue next
			}
		}
		out = append(out, img)
	}
	return out, nil
}

func imageFilter(s *image.Store, key, val string) (func(*image.Image) bool, error) {
	switch key {
	case "dangling":
		if val != "true" && val != "false" {
			return nil, fmt.Errorf("dangling is true or false")
		}
		return func(img *image.Image) bool { return (len(img.Names) == 0) == (val == "true") }, nil
	case "reference":
		if _, err := path.Match(val, ""); err != nil {
			return nil, err
		}
		return func(img *image.Image) bool {
			var names []string
			for _, n := range img.Names {
				repo := n[:strings.LastIndexByte(n, ':')]
				if m1, _ := path.Match(val, n); m1 || matchRepo(val, repo) {
					names = append(names, n)
				}
			}
			img.Names = names
			return len(names) > 0
		}, nil
	case "label":
		lk, lv, withValue := strings.Cut(val, "=")
		return func(img *image.Image) bool {
			v, ok := img.Config.Labels[lk]
			return ok && (!withValue || v == lv)
		}, nil
	case "before", "since":
		ref, err := s.Get(val)
		if err != nil {
			return nil, err
		}
		return func(img *image.Image) bool {
			if img.ID == ref.ID {
				return false
			}
			if key == "before" {
				return img.Created.Before(ref.Created)
			}
			return img.Created.After(ref.Created)
		}, nil
	}
	return nil, fmt.Errorf("unknown filter %q (dangling, reference, label, before, since)", key)
}

func matchRepo(pattern, repo string) bool {
	m, _ := path.Match(pattern, repo)
	return m
}

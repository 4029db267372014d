package registry

import (
	"fmt"
	"runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DefaultPlatform is this machine's: linux/GOARCH.
func DefaultPlatform() v1.Platform { return v1.Platform{OS: "linux", Architecture: runtime.GOARCH} }

// ParsePlatform reads OS/ARCH[/VARIANT] (linux/amd64, linux/arm64/v8); ""
// is DefaultPlatform.
func ParsePlatform(s string) (v1.Platform, error) {
	if s == "" {
		return DefaultPlatform(), nil
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") || strings.ContainsAny(s, " :") {
		return v1.Platform{}, fmt.Errorf("--platform %q: use OS/ARCH[/VARIANT], e.g. linux/amd64", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// platformString is OS/ARCH[/VARIANT].
func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// choosePlatform picks the manifest of an index for want: same OS and
// architecture, and variant if want has one. Without a variant asked for,
// arm64's v8 (or no variant) comes before others. Entries that are not
// images (attestations have platform unknown/unknown) never match.
func choosePlatform(descs []v1.Descriptor, want v1.Platform) (v1.Descriptor, error) {
	var best *v1.Descriptor
	var have []string
	for i := range descs {
		d := &descs[i]
		if d.Platform == nil || !d.MediaType.IsImage() {
			continue
		}
		p := *d.Platform
		have = append(have, platformString(p))
		if p.OS != want.OS || p.Architecture != want.Architecture {
			continue
		}
		if want.Variant != "" {
			if p.Variant == want.Variant || (p.Variant == "" && defaultVariant(p.Architecture) == want.Variant) {
				return *d, nil
			}
			continue
		}
		if best == nil || (best.Platform.Variant != defaultVariant(p.Architecture) && p.Variant == defaultVariant(p.Architecture)) {
			best = d
		}
	}
	if best != nil {
		return *best, nil
	}
	if len(have) == 0 {
		return v1.Descriptor{}, fmt.Errorf("no image for %s: the index lists no platform", platformString(want))
	}
	return v1.Descriptor{}, fmt.Errorf("no image for %s (the image is for %s)", platformString(want), strings.Join(have, ", "))
}

// defaultVariant is the variant an architecture's images have without one.
func defaultVariant(arch string) string {
	if arch == "arm64" {
		return "v8"
	}
	return ""
}

// matchesPlatform reports whether an image config's platform fits want (an
// image that does not say fits).
func matchesPlatform(cf *v1.ConfigFile, want v1.Platform) bool {
	if cf.OS != "" && cf.OS != want.OS || cf.Architecture != "" && cf.Architecture != want.Architecture {
		return false
	}
	return want.Variant == "" || cf.Variant == "" || cf.Variant == want.Variant
}

package registry

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestParseRefExpandsAsDocker(t *testing.T) {
	hub := (&Config{}).withDefaults()
	own := (&Config{DefaultRegistry: "reg.example:5000"}).withDefaults()
	for _, tc := range []struct {
		cfg               *Config
		in, remote, local string
		wantErr           string
	}{
		{hub, "busybox", "index.docker.io/library/busybox:latest", "busybox:latest", ""},
		{hub, "busybox:1.36", "index.docker.io/library/busybox:1.36", "busybox:1.36", ""},
		{hub, "docker.io/library/busybox", "index.docker.io/library/busybox:latest", "busybox:latest", ""},
		{hub, "user/app:2", "index.docker.io/user/app:2", "user/app:2", ""},
		{hub, "localhost/app", "localhost/app:latest", "localhost/app:latest", ""},
		{hub, "127.0.0.1:5000/team/app:1", "127.0.0.1:5000/team/app:1", "127.0.0.1:5000/team/app:1", ""},
		{hub, "busybox@sha256:" + strings.Repeat("ab", 32), "index.docker.io/library/busybox@sha256:" + strings.Repeat("ab", 32), "", ""},
		{own, "app", "reg.example:5000/app:latest", "app:latest", ""},
		{own, "docker.io/library/busybox", "index.docker.io/library/busybox:latest", "docker.io/library/busybox:latest", ""},
		{hub, "BusyBox", "", "", "must be lowercase"},
		{hub, "Reg.Example:5000/app", "", "", ""},
		{hub, "reg.example:5000/App", "", "", "must be lowercase"},
		{hub, "busybox:bad tag", "", "", "invalid reference format"},
		{hub, "busybox@sha256:abc", "", "", "invalid reference format"},
		{hub, "", "", "", "invalid reference format"},
	} {
		r, err := tc.cfg.ParseRef(tc.in)
		if tc.wantErr != "" || tc.remote == "" {
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("ParseRef(%q) = %v, want an error with %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRef(%q): %v", tc.in, err)
			continue
		}
		if r.Remote.Name() != tc.remote || r.Local != tc.local || r.Name() != strings.Replace(tc.remote, "index.docker.io/", "docker.io/", 1) {
			t.Errorf("ParseRef(%q) = %s, local %q; want %s, %q", tc.in, r.Remote.Name(), r.Local, tc.remote, tc.local)
		}
	}
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig("x", []byte(`{"default-registry": "reg:5000", "mirrors": {"docker.io": ["m1:5000"]},
		"insecure-registries": ["127.0.0.1:5000"], "certs-dir": "/c", "max-concurrent-downloads": 5}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.DefaultRegistry != "reg:5000" || c.CertsDir != "/c" || c.MaxConcurrentDownloads != 5 ||
		!c.Insecure("127.0.0.1:5000") || c.Insecure("127.0.0.1:5001") || len(c.mirrorsOf("index.docker.io")) != 1 {
		t.Errorf("config %+v", c)
	}
	d, err := ParseConfig("x", []byte(`{}`))
	if err != nil || d.DefaultRegistry != DockerHub || d.CertsDir == "" {
		t.Errorf("defaults %+v, %v", d, err)
	}
	for _, bad := range []string{
		`{"insecure-registries": ["http://x:5000"]}`,
		`{"mirrors": {"docker.io": ["m/path"]}}`,
		`{"default-registry": ""} {}`,
		`{"unknown": 1}`,
		`{"max-concurrent-downloads": -1}`,
		`{"insecure-registries": [""]}`,
		`not json`,
	} {
		if _, err := ParseConfig("x", []byte(bad)); err == nil {
			t.Errorf("ParseConfig(%s) accepted", bad)
		}
	}
}

func TestChoosePlatform(t *testing.T) {
	desc := func(os, arch, variant string) v1.Descriptor {
		return v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: v1.Hash{Algorithm: "sha256", Hex: os + arch + variant},
			Platform: &v1.Platform{OS: os, Architecture: arch, Variant: variant}}
	}
	list := []v1.Descriptor{
		desc("unknown", "unknown", ""), desc("linux", "arm", "v7"), desc("linux", "arm64", "v8"),
		desc("linux", "amd64", ""), desc("windows", "amd64", ""),
	}
	for _, tc := range []struct {
		want   string
		expect string
	}{
		{"linux/amd64", "linuxamd64"}, {"linux/arm64", "linuxarm64v8"}, {"linux/arm64/v8", "linuxarm64v8"},
		{"linux/arm/v7", "linuxarmv7"}, {"windows/amd64", "windowsamd64"}, {"linux/arm/v6", ""}, {"linux/s390x", ""},
	} {
		p, err := ParsePlatform(tc.want)
		if err != nil {
			t.Fatal(err)
		}
		d, err := choosePlatform(list, p)
		if tc.expect == "" {
			if err == nil || !strings.Contains(err.Error(), "no image for "+tc.want) {
				t.Errorf("%s: %v, %v", tc.want, d.Digest, err)
			}
			continue
		}
		if err != nil || d.Digest.Hex != tc.expect {
			t.Errorf("%s: chose %s, %v; want %s", tc.want, d.Digest.Hex, err, tc.expect)
		}
	}
	// An arm64 image without a variant is v8.
	d, err := choosePlatform([]v1.Descriptor{desc("linux", "arm64", "")}, v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	if err != nil || d.Digest.Hex != "linuxarm64" {
		t.Errorf("arm64 without variant: %v, %v", d.Digest, err)
	}
	for _, bad := range []string{"linux", "linux/", "/amd64", "linux/amd64/v1/x", "linux amd64/x"} {
		if _, err := ParsePlatform(bad); err == nil {
			t.Errorf("ParsePlatform(%q) accepted", bad)
		}
	}
	if p, err := ParsePlatform(""); err != nil || p.OS != "linux" {
		t.Errorf("default platform %v, %v", p, err)
	}
}

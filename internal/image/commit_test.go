package image

import (
	"errors"
	"reflect"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestApplyChanges(t *testing.T) {
	c := v1.Config{Env: []string{"PATH=/bin", "A=old"}, Labels: map[string]string{"x": "1"}}
	err := applyChanges(&c, []string{
		`CMD ["/app", "--serve"]`, "ENTRYPOINT /bin/run it", "ENV A=new", "ENV B two words", "WORKDIR /srv",
		"USER 1000:1000", "EXPOSE 80 53/udp", `LABEL "team"="blue green"`, "cmd [\"lower\"]",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := v1.Config{
		Cmd: []string{"lower"}, Entrypoint: []string{"/bin/sh", "-c", "/bin/run it"},
		Env: []string{"PATH=/bin", "A=new", "B=two words"}, WorkingDir: "/srv", User: "1000:1000",
		ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}},
		Labels:       map[string]string{"x": "1", "team": "blue green"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
	for _, bad := range []string{"FROM scratch", "CMD", "CMD [1, 2]", "CMD [oops", "ENV", "ENV =x", "WORKDIR rel",
		"EXPOSE 0", "EXPOSE 80/icmp", "EXPOSE x", "LABEL novalue", ""} {
		if err := applyChanges(&v1.Config{}, []string{bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestCommitConfig: the new image takes the container's config, then the
// changes, as Docker's commit: an ENTRYPOINT alone drops the command, one
// after a CMD keeps it, and an empty entrypoint brings the command back.
func TestCommitConfig(t *testing.T) {
	parent := v1.Config{
		Entrypoint: []string{"/entry"}, Cmd: []string{"default"}, Env: []string{"PATH=/bin", "A=image"},
		WorkingDir: "/img", User: "app", ExposedPorts: map[string]struct{}{"80/tcp": {}},
		Volumes: map[string]struct{}{"/img-vol": {}},
		Labels:  map[string]string{"from": "image", "x": "image"}, StopSignal: "SIGTERM",
	}
	cc := &ContainerConfig{
		Cmd: []string{"sh", "-c", "echo hi"}, Env: []string{"PATH=/bin", "A=run", "B=run"},
		WorkingDir: "/run", User: "0:0", ExposedPorts: []string{"8080/tcp"}, Volumes: []string{"/data"},
		Labels: map[string]string{"x": "run"}, StopSignal: "SIGUSR1",
	}
	for _, tc := range []struct {
		name       string
		changes    []string
		entrypoint []string
		cmd        []string
	}{
		{"the container's", nil, nil, []string{"sh", "-c", "echo hi"}},
		{"ENTRYPOINT alone", []string{`ENTRYPOINT ["/new"]`}, []string{"/new"}, nil},
		{"CMD then ENTRYPOINT", []string{`CMD ["a"]`, `ENTRYPOINT ["/new"]`}, []string{"/new"}, []string{"a"}},
		{"ENTRYPOINT then CMD", []string{`ENTRYPOINT ["/new"]`, `CMD ["a"]`}, []string{"/new"}, []string{"a"}},
		{"an empty ENTRYPOINT", []string{`ENTRYPOINT []`}, []string{}, []string{"sh", "-c", "echo hi"}},
	} {
		c := parent
		cc.apply(&c)
		if err := applyChanges(&c, tc.changes); err != nil {
			t.Fatal(err)
		}
		want := v1.Config{
			Entrypoint: tc.entrypoint, Cmd: tc.cmd, Env: cc.Env, WorkingDir: "/run", User: "0:0",
			ExposedPorts: map[string]struct{}{"80/tcp": {}, "8080/tcp": {}},
			Volumes:      map[string]struct{}{"/img-vol": {}, "/data": {}},
			Labels:       map[string]string{"from": "image", "x": "run"}, StopSignal: "SIGUSR1",
		}
		if !reflect.DeepEqual(c, want) {
			t.Errorf("%s: got %+v\nwant %+v", tc.name, c, want)
		}
	}
	if len(parent.ExposedPorts) != 1 || len(parent.Volumes) != 1 || parent.Labels["x"] != "image" {
		t.Errorf("the parent's config changed: %+v", parent)
	}
}

// TestContainerConfigOver: a container's config over its image's is what
// a commit makes of it (sets merged, sorted), and the image's is kept
// where the container has nothing of its own.
func TestContainerConfigOver(t *testing.T) {
	img := Config{
		Env: []string{"PATH=/bin"}, Entrypoint: []string{"/entry"}, Cmd: []string{"default"}, WorkingDir: "/img", User: "app",
		Labels: map[string]string{"from": "image"}, StopSignal: "SIGTERM", ExposedPorts: []string{"80/tcp"}, Volumes: []string{"/v"},
	}
	cc := &ContainerConfig{
		Entrypoint: []string{"/entry"}, Cmd: []string{"x"}, Env: []string{"A=1", "PATH=/bin"}, WorkingDir: "/w",
		ExposedPorts: []string{"53/udp"}, Volumes: []string{"/data"}, Labels: map[string]string{"x": "run"},
	}
	want := Config{
		Env: cc.Env, Entrypoint: []string{"/entry"}, Cmd: []string{"x"}, WorkingDir: "/w",
		Labels: map[string]string{"from": "image", "x": "run"}, StopSignal: "SIGTERM",
		ExposedPorts: []string{"53/udp", "80/tcp"}, Volumes: []string{"/data", "/v"},
	}
	if got := cc.Over(img); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if len(img.Labels) != 1 {
		t.Errorf("the image's labels changed: %v", img.Labels)
	}
	if got := (&ContainerConfig{Cmd: []string{"sh"}}).Over(Config{}); !reflect.DeepEqual(got, Config{Cmd: []string{"sh"}}) {
		t.Errorf("no image: %+v", got)
	}
	// The image's healthcheck is kept unless the container has its own,
	// which replaces it whole (a copy).
	img.Healthcheck = &HealthConfig{Test: []string{"CMD", "true"}, Retries: 2}
	if got := cc.Over(img); got.Healthcheck != img.Healthcheck {
		t.Errorf("the image's healthcheck: %+v", got.Healthcheck)
	}
	cc.Healthcheck = &HealthConfig{Test: []string{"CMD-SHELL", "check"}, Interval: time.Second}
	got := cc.Over(img)
	if !reflect.DeepEqual(got.Healthcheck, cc.Healthcheck) || got.Healthcheck == cc.Healthcheck {
		t.Errorf("the container's healthcheck: %+v", got.Healthcheck)
	}
	if got.Healthcheck.Test[0] = "CMD"; cc.Healthcheck.Test[0] != "CMD-SHELL" {
		t.Errorf("the container's healthcheck is shared with the config made of it")
	}
}

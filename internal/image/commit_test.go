package image

import (
	"errors"
	"reflect"
	"testing"

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

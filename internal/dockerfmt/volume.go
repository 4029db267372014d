package dockerfmt

import (
	"fmt"
	"io"
	"time"

	"github.com/sdocker/sdocker/internal/engine"
)

// VolumeJSON is a volume as 'docker volume inspect' shows it.
type VolumeJSON struct {
	CreatedAt  string            `json:"CreatedAt"`
	Driver     string            `json:"Driver"`
	Labels     map[string]string `json:"Labels"`
	Mountpoint string            `json:"Mountpoint"`
	Name       string            `json:"Name"`
	Options    map[string]string `json:"Options"`
	Scope      string            `json:"Scope"`
}

// InspectVolume is v in the shape of docker volume inspect.
func InspectVolume(v *engine.Volume) *VolumeJSON {
	labels := v.Labels
	if v.Anonymous {
		labels = map[string]string{"com.docker.volume.anonymous": ""}
		for k, l := range v.Labels {
			labels[k] = l
		}
	}
	return &VolumeJSON{
		CreatedAt: v.CreatedAt.Local().Format(time.RFC3339), Driver: "local", Labels: labels,
		Mountpoint: v.Mountpoint, Name: v.Name, Scope: "local",
	}
}

// WriteVolumesTable writes volumes as docker volume ls does, or their
// names only when quiet.
func WriteVolumesTable(w io.Writer, vols []*engine.Volume, quiet bool) error {
	if !quiet {
		if _, err := fmt.Fprintf(w, "%-10s%s\n", "DRIVER", "VOLUME NAME"); err != nil {
			return err
		}
	}
	for _, v := range vols {
		var err error
		if quiet {
			_, err = fmt.Fprintln(w, v.Name)
		} else {
			_, err = fmt.Fprintf(w, "%-10s%s\n", "local", v.Name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

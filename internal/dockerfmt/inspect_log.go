package dockerfmt

import (
	"strconv"

	"github.com/sdocker/sdocker/internal/engine"
)

// LogConfigJSON is Docker's HostConfig.LogConfig: the log driver (always
// json-file) and its options, the rotation in effect.
type LogConfigJSON struct {
	Type   string            `json:"Type"`
	Config map[string]string `json:"Config"`
}

// inspectLog fills c's HostConfig.LogConfig.
func inspectLog(c *ContainerJSON, r *engine.Record) {
	size, files := r.Log.Limits()
	l := LogConfigJSON{Type: "json-file", Config: map[string]string{"max-size": "-1"}}
	if size > 0 {
		l.Config["max-size"] = strconv.FormatInt(size, 10)
		l.Config["max-file"] = strconv.Itoa(files)
	}
	c.HostConfig.LogConfig = l
}

package engine

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sdocker/sdocker/internal/jsonlog"
	"github.com/sdocker/sdocker/internal/specgen"
)

// A detached container's log is rotated by its monitor (see
// jsonlog.Writer.Rotate): by default at 20 MiB, keeping one rotated file,
// so that a log takes at most 40 MiB and always holds its last 20 MiB.
const (
	DefaultLogMaxSize = 20 << 20
	DefaultLogMaxFile = 2
)

// LogConfig is how a container's log is rotated (--log-opt): files of at
// most MaxSize bytes (-1: the log grows without bound), MaxFile of them.
// Zero values, as in a record from before it was kept, are the defaults.
type LogConfig struct {
	MaxSize int64 `json:"maxSize,omitempty"`
	MaxFile int   `json:"maxFile,omitempty"`
}

// ParseLogOpts reads --log-opt KEY=VALUE options: max-size (a size such as
// 10m, or -1 for no limit) and max-file (a number of files, at least 1).
func ParseLogOpts(opts []string) (LogConfig, error) {
	c := LogConfig{MaxSize: DefaultLogMaxSize, MaxFile: DefaultLogMaxFile}
	for _, o := range opts {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			return c, fmt.Errorf("%w: --log-opt %q: use KEY=VALUE", ErrInvalidInput, o)
		}
		switch k {
		case "max-size":
			n, err := specgen.ParseBytes(v)
			if err != nil || n == 0 || n < -1 {
				return c, fmt.Errorf("%w: --log-opt max-size=%s: use a positive size such as 10m, or -1 for no limit", ErrInvalidInput, v)
			}
			c.MaxSize = n
		case "max-file":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				return c, fmt.Errorf("%w: --log-opt max-file=%s: use a number of files from 1 to 1000", ErrInvalidInput, v)
			}
			c.MaxFile = n
		default:
			return c, fmt.Errorf("%w: --log-opt %q: unknown option (known: max-size, max-file)", ErrInvalidInput, k)
		}
	}
	return c, nil
}

// Limits are the size and number of files of the log, defaults filled in;
// size 0: no rotation.
func (c LogConfig) Limits() (int64, int) {
	size, files := c.MaxSize, c.MaxFile
	if size == 0 {
		size = DefaultLogMaxSize
	}
	if size < 0 {
		size = 0
	}
	if files <= 0 {
		files = DefaultLogMaxFile
	}
	return size, files
}

// rotate makes w rotate the log of r as r says.
func (e *Engine) rotate(w *jsonlog.Writer, r *Record) {
	size, files := r.Log.Limits()
	w.Rotate(e.LogPath(r.ID), size, files)
}

// rotateArg is the option that makes sdocker-monitor rotate the log of r
// ("" when it grows without bound).
func (e *Engine) rotateArg(r *Record) string {
	size, files := r.Log.Limits()
	if size == 0 {
		return ""
	}
	return fmt.Sprintf("--log-rotate=%d,%d,%s", size, files, e.LogPath(r.ID))
}

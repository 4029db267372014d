package dockerfmt

import (
	"sort"
	"strings"
	"time"

	"github.com/sdocker/sdocker/internal/engine"
)

// FormatEvent is Docker's default line for an event:
// TIME TYPE ACTION ID (KEY=VALUE, ...), the attributes sorted.
func FormatEvent(ev *engine.Event) string {
	keys := make([]string, 0, len(ev.Actor.Attributes))
	for k := range ev.Actor.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	attrs := make([]string, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, k+"="+ev.Actor.Attributes[k])
	}
	t := time.Unix(0, ev.TimeNano).Format("2006-01-02T15:04:05.000000000Z07:00")
	return t + " " + ev.Type + " " + ev.Action + " " + ev.Actor.ID + " (" + strings.Join(attrs, ", ") + ")"
}

package dockerfmt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"

	"github.com/sdocker/sdocker/internal/engine"
)

// TemplateFuncs are the functions Docker's --format templates have.
var TemplateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSpace(b.String()), nil
	},
	"split": strings.Split,
	"join":  strings.Join,
	"title": func(s string) string {
		r, n := utf8.DecodeRuneInString(s)
		return string(unicode.ToUpper(r)) + s[n:]
	},
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"pad": func(s string, before, after int) string {
		return strings.Repeat(" ", max(before, 0)) + s + strings.Repeat(" ", max(after, 0))
	},
	"truncate": func(s string, n int) string {
		if r := []rune(s); len(r) > n {
			return string(r[:max(n, 0)])
		}
		return s
	},
	"println": func(args ...any) string { return fmt.Sprintln(args...) },
}

// ParseTemplate parses a --format template with TemplateFuncs.
func ParseTemplate(text string) (*template.Template, error) {
	t, err := template.New("").Funcs(TemplateFuncs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%w: template %q: %w", engine.ErrInvalidInput, text, err)
	}
	return t, nil
}

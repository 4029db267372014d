package dockerfmt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
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

// Format is a parsed --format of a listing: "json" (a JSON object a line),
// "table TEMPLATE" (a header line, then columns aligned) or a bare template
// applied to each row.
type Format struct {
	JSON  bool
	Table bool
	Tmpl  *template.Template
}

// ParseFormat reads a --format value; a bare "table" is the template
// table, and "\t" and "\n" written as two characters are a tab and a
// newline, as in Docker. The template is tried on header (the row whose
// fields are the column titles), so that a field the rows lack is refused
// before anything is listed.
func ParseFormat(s, table string, header any) (*Format, error) {
	f := &Format{}
	switch t := strings.TrimSpace(s); {
	case t == "json":
		f.JSON = true
		return f, nil
	case t == "table":
		f.Table = true
		s = table
	case strings.HasPrefix(t, "table "):
		f.Table = true
		s = strings.TrimPrefix(t, "table ")
	}
	s = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(strings.Trim(s, " "))
	var err error
	if f.Tmpl, err = ParseTemplate(s); err != nil {
		return nil, err
	}
	if err := f.Tmpl.Execute(io.Discard, header); err != nil {
		return nil, fmt.Errorf("%w: template %q: %w", engine.ErrInvalidInput, s, err)
	}
	return f, nil
}

// WriteFormat writes rows with a parsed --format: a JSON object per line,
// a table with its header, or each row through the template.
func WriteFormat[T any](out io.Writer, f *Format, header T, rows []T) error {
	if f.JSON {
		return writeJSONLines(out, rows)
	}
	w := out
	var tw *tabwriter.Writer
	if f.Table {
		tw = tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
		w = tw
		if err := f.Tmpl.Execute(w, header); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		fmt.Fprintln(w)
	}
	for _, r := range rows {
		if err := f.Tmpl.Execute(w, r); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		fmt.Fprintln(w)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// writeJSONLines writes rows as --format json does: a JSON object a line.
func writeJSONLines[T any](out io.Writer, rows []T) error {
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

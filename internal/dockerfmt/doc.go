// Package dockerfmt presents the engine's data as Docker does: the tables
// of ps, stats and images, the --format templates and their functions, the
// human sizes and durations, and the JSON of `inspect`. The engine keeps the
// data (records, stats samples, image records) and knows nothing of how
// they are shown.
package dockerfmt

package dockerfmt

import (
	"testing"
	"time"
)

func TestSizes(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0B", 999: "999B", 1000: "1kB", 12345: "12.3kB", 1500000: "1.5MB", 2.5e9: "2.5GB",
	} {
		if got := HumanSize(v); got != want {
			t.Errorf("HumanSize(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{
		0: "0B", 1023: "1023B", 1024: "1KiB", 1536: "1.5KiB", 10 << 20: "10MiB", 1.5 * (1 << 20): "1.5MiB",
		8e9: "7.451GiB",
	} {
		if got := BytesSize(v); got != want {
			t.Errorf("BytesSize(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		500 * time.Millisecond: "Less than a second",
		time.Second:            "1 second",
		59 * time.Second:       "59 seconds",
		60 * time.Second:       "About a minute",
		119 * time.Second:      "About a minute",
		2 * time.Minute:        "2 minutes",
		59 * time.Minute:       "59 minutes",
		70 * time.Minute:       "About an hour",
		5 * time.Hour:          "5 hours",
		47 * time.Hour:         "47 hours",
		3 * 24 * time.Hour:     "3 days",
		15 * 24 * time.Hour:    "2 weeks",
		90 * 24 * time.Hour:    "3 months",
		800 * 24 * time.Hour:   "2 years",
	} {
		if got := HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

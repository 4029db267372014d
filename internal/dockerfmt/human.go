package dockerfmt

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// Ellipsis shortens s to at most n characters, the last one "…".
func Ellipsis(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// HumanSince is how long ago t was, as Docker writes it ("3 minutes ago"),
// or "N/A" for the zero time: a time that is not known.
func HumanSince(t, now time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	return HumanDuration(now.Sub(t)) + " ago"
}

// HumanDuration writes d as Docker does: "Less than a second", "3 seconds",
// "About a minute", "5 minutes", "About an hour", "3 hours", "2 days",
// "3 weeks", "4 months", "2 years".
func HumanDuration(d time.Duration) string {
	if seconds := int(d.Seconds()); seconds < 1 {
		return "Less than a second"
	} else if seconds == 1 {
		return "1 second"
	} else if seconds < 60 {
		return fmt.Sprintf("%d seconds", seconds)
	} else if minutes := int(d.Minutes()); minutes == 1 {
		return "About a minute"
	} else if minutes < 60 {
		return fmt.Sprintf("%d minutes", minutes)
	} else if hours := int(d.Hours() + 0.5); hours == 1 {
		return "About an hour"
	} else if hours < 48 {
		return fmt.Sprintf("%d hours", hours)
	} else if hours < 24*7*2 {
		return fmt.Sprintf("%d days", hours/24)
	} else if hours < 24*30*2 {
		return fmt.Sprintf("%d weeks", hours/24/7)
	} else if hours < 24*365*2 {
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}

var (
	decimalUnits = []string{"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"}
	binaryUnits  = []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"}
)

func customSize(format string, size, base float64, units []string) string {
	i := 0
	for size >= base && i < len(units)-1 {
		size /= base
		i++
	}
	return fmt.Sprintf(format, size, units[i])
}

// HumanSize writes a size in decimal units with 3 significant digits, as
// `docker stats` shows I/O: "12.3kB", "1.5MB", "0B".
func HumanSize(size float64) string { return customSize("%.3g%s", size, 1000, decimalUnits) }

// BytesSize writes a size in binary units with 4 significant digits, as
// `docker stats` shows memory: "1.5MiB", "10MiB", "7.629GiB".
func BytesSize(size float64) string { return customSize("%.4g%s", size, 1024, binaryUnits) }

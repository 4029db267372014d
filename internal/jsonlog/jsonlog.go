// Package jsonlog encodes a container's output as the lines of Docker's
// json-file log: {"log":TEXT,"stream":STREAM,"time":RFC3339Nano}.
//
// It writes what encoding/json writes for the same entry (HTML characters
// and U+2028/U+2029 escaped, each run of invalid UTF-8 replaced by one
// U+FFFD as strings.ToValidUTF8 does first) without reflection, so that the
// small monitor binary need not link encoding/json. It imports nothing but
// time, strconv, unicode/utf8 and x/sys/unix.
package jsonlog

import (
	"time"
	"unicode/utf8"
)

// Append appends the log line (with its newline) of text, read from
// stream at time t, to dst.
func Append(dst, text []byte, stream string, t time.Time) []byte {
	dst = append(dst, `{"log":`...)
	dst = appendString(dst, text)
	dst = append(dst, `,"stream":`...)
	dst = appendString(dst, []byte(stream))
	dst = append(dst, `,"time":"`...)
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"', '}', '\n')
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string.
func appendString(dst, s []byte) []byte {
	dst = append(dst, '"')
	invalid := false // the previous byte was part of an invalid sequence
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			invalid = false
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRune(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			if !invalid {
				dst = append(dst, "\uFFFD"...)
				invalid = true
			}
			i++
			start = i
			continue
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			start = i + size
		}
		invalid = false
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

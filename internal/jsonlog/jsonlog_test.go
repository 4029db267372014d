package jsonlog_test

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/sdocker/sdocker/internal/engine"
	"github.com/sdocker/sdocker/internal/jsonlog"
)

// want is the line the engine has always written: encoding/json of a
// LogEntry whose text went through strings.ToValidUTF8.
func want(t testing.TB, text []byte, stream string, at time.Time) []byte {
	b, err := json.Marshal(engine.LogEntry{Log: strings.ToValidUTF8(string(text), "\ufffd"), Stream: stream, Time: at.UTC()})
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func check(t testing.TB, text []byte, stream string, at time.Time) {
	t.Helper()
	got := jsonlog.Append(nil, text, stream, at)
	if w := want(t, text, stream, at); !bytes.Equal(got, w) {
		t.Errorf("Append(%q):\n got %s\nwant %s", text, got, w)
	}
}

var tricky = []string{
	"",
	"hello\n",
	"no newline",
	`quote " backslash \ slash /`,
	"<script>alert('x')</script> & more\n",
	"\x00\x01\x02\x07\b\t\n\v\f\r\x0e\x1b\x1f\x7f",
	"caf\u00e9 \u4e16\u754c \U0001F600\n",
	"line\u2028sep\u2029para\n",
	"\ufffd literal replacement char",
	"\xff",
	"\xff\xfe\xfd run of invalid",
	"a\xffb\xfec",
	"\xff\ufffd\xff",
	"\xe2\x82",         // truncated 3-byte sequence
	"\xe2\x82 after",   // truncated then ASCII
	"\xf0\x9f\x98",     // truncated 4-byte sequence
	"\xc0\xaf",         // overlong slash
	"\xed\xa0\x80",     // UTF-16 surrogate
	"\xf4\x90\x80\x80", // beyond U+10FFFF
	"end with invalid \xc3",
	"\x80\x80\x80\n",
	"tab\tand\r\ncrlf\r\n",
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	times := []time.Time{
		time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2024, 1, 2, 3, 4, 5, 120000000, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("X", 3600)),
		time.Now(),
	}
	for _, s := range tricky {
		for _, stream := range []string{"stdout", "stderr"} {
			for _, at := range times {
				check(t, []byte(s), stream, at)
			}
		}
	}
}

// TestAppendRandom compares on random bytes, weighted towards the
// characters that need care.
func TestAppendRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	special := []byte("<>&\"\\\n\r\t\b\f\x00\x1f\x7f\x80\xbf\xc0\xc3\xe2\x80\xa8\xa9\xed\xf0\xf4\xff")
	for i := 0; i < 20000; i++ {
		b := make([]byte, rng.Intn(40))
		for j := range b {
			if rng.Intn(2) == 0 {
				b[j] = special[rng.Intn(len(special))]
			} else {
				b[j] = byte(rng.Intn(256))
			}
		}
		check(t, b, "stdout", time.Unix(int64(rng.Intn(2e9)), int64(rng.Intn(1e9))))
		if t.Failed() {
			return
		}
	}
}

func FuzzAppend(f *testing.F) {
	for _, s := range tricky {
		f.Add([]byte(s))
	}
	at := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) { check(t, b, "stderr", at) })
}

// The encoder reuses its buffer: no allocation per line once it is large
// enough.
func TestAppendNoAlloc(t *testing.T) {
	buf := make([]byte, 0, 1024)
	text := []byte("a <typical> line of output\n")
	at := time.Now()
	if n := testing.AllocsPerRun(100, func() { buf = jsonlog.Append(buf[:0], text, "stdout", at) }); n != 0 {
		t.Errorf("%v allocations per line", n)
	}
}

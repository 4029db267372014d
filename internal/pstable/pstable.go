// Package pstable shows the processes of a container as the host's ps(1)
// lists them: what `sdocker top` and `sdocker-runc ps` print.
package pstable

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// Write runs the host's ps(1) with psArgs (default -ef) and writes its
// header and the lines of the processes in pids: what `docker top` and
// `runc ps` show. ps must print a PID column.
func Write(w io.Writer, pids []int, psArgs []string) error {
	if len(psArgs) == 0 {
		psArgs = []string{"-ef"}
	}
	cmd := exec.Command("ps", psArgs...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			err = fmt.Errorf("%w: %s", err, firstLine(msg))
		}
		return fmt.Errorf("run ps %s: %w", strings.Join(psArgs, " "), err)
	}
	want := map[int]bool{}
	for _, p := range pids {
		want[p] = true
	}
	return Filter(w, out, want)
}

// Filter copies the header of ps output and the lines whose PID
// column is in want. The PID is found where the header's PID column ends
// (ps right-aligns numbers), so a column with spaces before it (lstart,
// say) does not shift it.
func Filter(w io.Writer, out []byte, want map[int]bool) error {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	if !sc.Scan() {
		return errors.New("ps printed nothing")
	}
	header := sc.Text()
	end, col := pidColumn(header)
	if end < 0 {
		return fmt.Errorf("ps output has no PID column (header %q): add pid to the -o list", header)
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, header)
	for sc.Scan() {
		line := sc.Text()
		if pid, ok := pidAt(line, end, col); ok && want[pid] {
			fmt.Fprintln(bw, line)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read ps output: %w", err)
	}
	return bw.Flush()
}

// pidColumn returns where the header's "PID" column ends and its index
// among the header's fields, or -1.
func pidColumn(header string) (end, col int) {
	i, inField := 0, false
	for pos := 0; pos <= len(header); pos++ {
		space := pos == len(header) || header[pos] == ' ' || header[pos] == '\t'
		switch {
		case !space && !inField:
			i, inField = pos, true
		case space && inField:
			inField = false
			if header[i:pos] == "PID" {
				return pos, len(strings.Fields(header[:pos])) - 1
			}
		}
	}
	return -1, -1
}

// pidAt reads the pid of a ps line: the last field that ends at or before
// end, else (a wider column than its header) field col.
func pidAt(line string, end, col int) (int, bool) {
	if end <= len(line) {
		prefix := line[:end]
		if end == len(line) || line[end] == ' ' || line[end] == '\t' {
			if f := strings.Fields(prefix); len(f) > 0 {
				if pid, err := strconv.Atoi(f[len(f)-1]); err == nil {
					return pid, true
				}
			}
		}
	}
	f := strings.Fields(line)
	if col < len(f) {
		if pid, err := strconv.Atoi(f[col]); err == nil {
			return pid, true
		}
	}
	return 0, false
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

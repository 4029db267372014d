package registry

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sdocker/sdocker/internal/image"
)

// board shows the layers of a pull or a push. On a terminal each layer has
// a line, redrawn in place with its progress bar; elsewhere each change of
// a layer's state is one plain line. A nil *board shows nothing.
type board struct {
	w      io.Writer
	term   bool
	mu     sync.Mutex
	layers []*layerState
	drawn  int // lines on the terminal so far
	stop   chan struct{}
	done   chan struct{}
}

type layerState struct {
	id     string // 12 hex digits of the blob digest
	status string
	total  int64
	n      atomic.Int64 // bytes read so far
}

func newBoard(w io.Writer, term bool) *board {
	if w == nil {
		return nil
	}
	return &board{w: w, term: term}
}

// add adds a layer's line and returns its index.
func (b *board) add(digest string, total int64, status string) int {
	if b == nil {
		return -1
	}
	b.mu.Lock()
	l := &layerState{id: shortHex(digest), total: total, status: status}
	b.layers = append(b.layers, l)
	i := len(b.layers) - 1
	b.mu.Unlock()
	b.changed(l)
	return i
}

// set changes layer i's state.
func (b *board) set(i int, status string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	l := b.layers[i]
	l.status = status
	b.mu.Unlock()
	b.changed(l)
}

// begin changes layer i's state to one with a progress bar of total bytes.
func (b *board) begin(i int, status string, total int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	l := b.layers[i]
	l.status, l.total = status, total
	b.mu.Unlock()
	b.changed(l)
}

// reader counts what is read of layer i, from 0.
func (b *board) reader(i int, r io.Reader) io.Reader {
	if b == nil {
		return r
	}
	b.layers[i].n.Store(0)
	return &countReader{r: r, n: &b.layers[i].n}
}

func (b *board) changed(l *layerState) {
	if b.term {
		b.redraw()
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if hasBar(l.status) && l.total > 0 {
		fmt.Fprintf(b.w, "%s: %s %s\n", l.id, l.status, image.HumanBytes(l.total))
		return
	}
	fmt.Fprintf(b.w, "%s: %s\n", l.id, l.status)
}

// start redraws the terminal lines until finish.
func (b *board) start() {
	if b == nil || !b.term {
		return
	}
	b.stop, b.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(b.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.redraw()
			}
		}
	}()
}

func (b *board) finish() {
	if b == nil || b.stop == nil {
		return
	}
	close(b.stop)
	<-b.done
	b.redraw()
}

func (b *board) redraw() {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sb strings.Builder
	if b.drawn > 0 {
		fmt.Fprintf(&sb, "\x1b[%dA", b.drawn)
	}
	for _, l := range b.layers {
		line := l.id + ": " + l.status
		if hasBar(l.status) && l.total > 0 {
			line += " " + image.ProgressBar(l.n.Load(), l.total)
		}
		fmt.Fprintf(&sb, "\r%s\x1b[K\n", line)
	}
	b.drawn = len(b.layers)
	fmt.Fprint(b.w, sb.String())
}

// The states of a layer, Docker's words.
const (
	statusPresent     = "Already exists"
	statusWaiting     = "Waiting"
	statusDownloading = "Downloading"
	statusComplete    = "Pull complete"
	statusPreparing   = "Preparing"
	statusPushing     = "Pushing"
	statusPushed      = "Pushed"
	statusExists      = "Layer already exists"
)

// hasBar tells the states whose line has a progress bar.
func hasBar(status string) bool { return status == statusDownloading || status == statusPushing }

type countReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func shortHex(digest string) string {
	h := strings.TrimPrefix(digest, "sha256:")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

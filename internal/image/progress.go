package image

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Options tune Import and Load.
type Options struct {
	// Progress receives a progress bar (carriage-return redrawn, one line)
	// when an import or load takes longer than a moment. Nothing is written
	// unless Terminal is set: pass os.Stderr and whether it is a terminal.
	Progress io.Writer
	Terminal bool
}

// progressDelay is how long an operation runs before a bar appears.
var progressDelay = 400 * time.Millisecond

const progressInterval = 100 * time.Millisecond

// progress draws one bar; a nil *progress draws nothing. It is used from one
// goroutine.
type progress struct {
	w           io.Writer
	label       string
	total, done int64 // total < 0: unknown
	start, last time.Time
	step, steps int // steps > 0 and total unknown: the bar shows steps
	drawn       bool
}

func newProgress(o Options) *progress {
	if o.Progress == nil || !o.Terminal {
		return nil
	}
	return &progress{w: o.Progress, start: time.Now()}
}

// phase starts a new step with its own label and byte total (-1: unknown).
func (p *progress) phase(label string, total int64) {
	if p == nil {
		return
	}
	p.label, p.total, p.done, p.step, p.steps = label, total, 0, 0, 0
	p.draw(true)
}

func (p *progress) add(n int) {
	if p == nil {
		return
	}
	p.done += int64(n)
	p.draw(false)
}

// setStep says the phase is step i (from 0) of n.
func (p *progress) setStep(i, n int) {
	if p == nil {
		return
	}
	p.step, p.steps = i, n
	p.draw(true)
}

// finish completes the bar and ends its line, if one was drawn.
func (p *progress) finish() {
	if p == nil || !p.drawn {
		return
	}
	if p.total > 0 {
		p.done = p.total
	}
	p.step = p.steps
	p.render()
	fmt.Fprint(p.w, "\n")
}

func (p *progress) draw(force bool) {
	now := time.Now()
	if now.Sub(p.start) < progressDelay || (!force && now.Sub(p.last) < progressInterval) {
		return
	}
	p.last = now
	p.render()
}

func (p *progress) render() {
	p.drawn = true
	var frac float64
	var count string
	switch {
	case p.total > 0:
		fmt.Fprintf(p.w, "\r%-24s %s\x1b[K", p.label, ProgressBar(p.done, p.total))
		return
	case p.steps > 0:
		frac = float64(p.step) / float64(p.steps)
		count = fmt.Sprintf("%d/%d %s", min(p.step+1, p.steps), p.steps, humanBytes(p.done))
	default:
		fmt.Fprintf(p.w, "\r%-24s %s\x1b[K", p.label, humanBytes(p.done))
		return
	}
	fmt.Fprintf(p.w, "\r%-24s %s %s\x1b[K", p.label, bar(frac), count)
}

// ProgressBar draws done of total bytes: "[=====>     ]  42% 1.2MB/2.9MB".
func ProgressBar(done, total int64) string {
	frac := float64(done) / float64(max(total, 1))
	return bar(frac) + " " + HumanBytes(done) + "/" + HumanBytes(total)
}

// bar is a 30-character bar and a percentage for frac (0..1).
func bar(frac float64) string {
	const width = 30
	frac = min(max(frac, 0), 1)
	n := int(frac * width)
	b := strings.Repeat("=", n)
	if n < width {
		b += ">" + strings.Repeat(" ", width-n-1)
	}
	return fmt.Sprintf("[%s] %3d%%", b, int(frac*100))
}

// HumanBytes is n in B, kB, MB or GB (powers of 1024), for progress.
func HumanBytes(n int64) string { return humanBytes(n) }

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fkB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

// countingReader reports what is read through it to a progress bar.
type countingReader struct {
	r io.Reader
	p *progress
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.add(n)
	return n, err
}

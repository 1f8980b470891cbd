package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/berth-dev/berth/core"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress shows bytes read against a total on one terminal line.
type progress struct {
	w     io.Writer
	label string
	total int64

	mu   sync.Mutex
	n    int64
	last time.Time
}

func newProgress(w io.Writer, label string, total int64) *progress {
	return &progress{w: w, label: label, total: total}
}

// Write counts p and redraws the line at most ten times a second.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += int64(len(b))
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond {
		p.last = now
		p.draw()
	}
	return len(b), nil
}

func (p *progress) draw() {
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(p.n) / float64(p.total)
	}
	fmt.Fprintf(p.w, "\r%s: %s / %s (%.0f%%)\x1b[K", p.label, humanBytes(p.n), humanBytes(p.total), pct)
}

// done draws the final state and ends the line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw()
	fmt.Fprintln(p.w)
}

// phaseProgress shows on a terminal how long a job's snapshot commit has
// been running, redrawn a few times a second, and clears the line after.
type phaseProgress struct {
	w    io.Writer
	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
}

// onPhase is a core.Job OnPhase hook.
func (p *phaseProgress) onPhase(phase string) {
	if phase == core.PhaseCommit {
		p.start("committing snapshot")
		return
	}
	p.end()
}

func (p *phaseProgress) start(label string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil {
		return
	}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go func(stop, done chan struct{}) {
		defer close(done)
		began := time.Now()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			fmt.Fprintf(p.w, "\rberth: %s… %.1fs\x1b[K", label, time.Since(began).Seconds())
			select {
			case <-stop:
				fmt.Fprint(p.w, "\r\x1b[K")
				return
			case <-tick.C:
			}
		}
	}(p.stop, p.done)
}

// end stops the display, if it runs, and waits until its line is cleared.
func (p *phaseProgress) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop == nil {
		return
	}
	close(p.stop)
	<-p.done
	p.stop, p.done = nil, nil
}

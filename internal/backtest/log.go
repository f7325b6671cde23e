package backtest

import (
	"bufio"
	"fmt"
	"io"
	"sync"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/scoring"
)

// LogOptions says how an event log is read: JSON Lines of raw Segment, SendGrid and
// sales-feedback payloads, mixed, as `leadscore score` reads them.
type LogOptions struct {
	// Strict stops at the first bad line instead of reporting it and going on.
	Strict bool
	// Bad, when set, is told about every bad line (1-based line number, error with
	// a reason code), in line order.
	Bad func(line int, err error)
	// Workers is how many goroutines decode lines (0 or 1: the caller's goroutine
	// only). Events are applied in line order whatever the number: decoding is the
	// costly part of a replay and parallelises, applying does not.
	Workers int
}

// maxLine is the longest line read, as `leadscore score` accepts.
const maxLine = 2 * 1024 * 1024

// batchLines is how many lines a decoding worker takes at once.
const batchLines = 512

// readLog decodes every line of in and calls apply with each event, in line order.
// It returns the number of bad lines. With opts.Strict the first bad line stops it
// with an error naming the line.
func readLog(in io.Reader, opts LogOptions, apply func(ev *scoring.Event)) (bad int, err error) {
	if opts.Workers > 1 {
		return readLogParallel(in, opts, apply)
	}
	dec, err := events.NewDecoder(events.Options{})
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if isBlank(b) {
			continue
		}
		ev, err := dec.DecodeAny(b)
		if err != nil {
			bad++
			if opts.Bad != nil {
				opts.Bad(line, err)
			}
			if opts.Strict {
				return bad, fmt.Errorf("events line %d: %w", line, err)
			}
			continue
		}
		apply(&ev)
	}
	if err := sc.Err(); err != nil {
		return bad, fmt.Errorf("reading events: line %d: %w", line+1, err)
	}
	return bad, nil
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// batch is a run of lines read together, decoded by one worker.
type batch struct {
	seq   int
	first int    // line number of the first line
	data  []byte // the lines' bytes, back to back
	ends  []int  // end offset of each line in data
	evs   []scoring.Event
	errs  []error // per line: the decoding error, or nil
	ok    []bool  // per line: an event was decoded (blank lines are neither)
	ioErr error   // reading failed after this batch's lines
}

// readLogParallel is readLog with opts.Workers decoding goroutines. One goroutine
// reads lines into batches, the workers decode them, and the caller applies the
// events batch by batch in line order. The batches in flight are bounded, so memory
// does not grow with the log. When the caller stops early (a strict error), the
// other goroutines are told to quit and waited for.
func readLogParallel(in io.Reader, opts LogOptions, apply func(ev *scoring.Event)) (bad int, err error) {
	n := opts.Workers
	work := make(chan *batch, n)
	done := make(chan *batch, n)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(quit)
		wg.Wait()
	}()

	// Batches are recycled once applied, so the reader mostly reuses their buffers.
	free := make(chan *batch, 4*n)
	newBatch := func(seq, first int) *batch {
		select {
		case b := <-free:
			b.seq, b.first, b.data, b.ends, b.ioErr = seq, first, b.data[:0], b.ends[:0], nil
			return b
		default:
			return &batch{seq: seq, first: first}
		}
	}
	wg.Add(1)
	go func() { // reader
		defer wg.Done()
		defer close(work)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64*1024), maxLine)
		line, seq := 0, 0
		b := newBatch(seq, 1)
		send := func() bool {
			select {
			case work <- b:
				seq++
				b = newBatch(seq, line+1)
				return true
			case <-quit:
				return false
			}
		}
		for sc.Scan() {
			line++
			b.data = append(b.data, sc.Bytes()...)
			b.ends = append(b.ends, len(b.data))
			if len(b.ends) == batchLines && !send() {
				return
			}
		}
		if err := sc.Err(); err != nil {
			b.ioErr = fmt.Errorf("reading events: line %d: %w", line+1, err)
		}
		send()
	}()

	var wwg sync.WaitGroup
	for range n {
		wg.Add(1)
		wwg.Add(1)
		go func() { // decoder
			defer wg.Done()
			defer wwg.Done()
			dec, derr := events.NewDecoder(events.Options{})
			for b := range work {
				k := len(b.ends)
				b.evs = grow(b.evs, k)
				b.errs = grow(b.errs, k)
				b.ok = grow(b.ok, k)
				start := 0
				for i, end := range b.ends {
					p := b.data[start:end]
					start = end
					if isBlank(p) {
						continue
					}
					if derr != nil {
						b.errs[i] = derr
						continue
					}
					b.evs[i], b.errs[i] = dec.DecodeAny(p)
					b.ok[i] = b.errs[i] == nil
				}
				select {
				case done <- b:
				case <-quit:
					return
				}
			}
		}()
	}
	go func() {
		wwg.Wait()
		close(done)
	}()

	waiting := map[int]*batch{}
	next := 0
	for b := range done {
		waiting[b.seq] = b
		for {
			b, ok := waiting[next]
			if !ok {
				break
			}
			delete(waiting, next)
			next++
			for i := range b.ends {
				if b.ok[i] {
					apply(&b.evs[i])
					continue
				}
				if e := b.errs[i]; e != nil {
					bad++
					if opts.Bad != nil {
						opts.Bad(b.first+i, e)
					}
					if opts.Strict {
						return bad, fmt.Errorf("events line %d: %w", b.first+i, e)
					}
				}
			}
			if b.ioErr != nil {
				return bad, b.ioErr
			}
			clear(b.evs) // drop the events' strings before the batch waits for reuse
			select {
			case free <- b:
			default:
			}
		}
	}
	return bad, nil
}

// grow returns s resized to n elements, zeroed, reusing its array when it can.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

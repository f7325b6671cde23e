package kafkaconfig

import (
	"context"
	"fmt"

	"github.com/leadscore/leadscore/processor"
)

// Turn serialises a client's Poll, Produce, Commit, Abort, Keep and Close
// (a channel rather than a mutex, so that waiting for it honours a context),
// and remembers whether Close ran. Use NewTurn to create one.
type Turn struct {
	ch     chan struct{}
	closed bool // guarded by the turn
}

// NewTurn returns a free Turn of an open client.
func NewTurn() *Turn { return &Turn{ch: make(chan struct{}, 1)} }

// Acquire waits for the turn; it returns ctx.Err() (without the turn) when ctx
// ends first.
func (t *Turn) Acquire(ctx context.Context) error {
	select {
	case t.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// AcquireOpen is Acquire for an operation of the cycle: once the client is
// closed it releases the turn and returns processor.ErrClosed.
func (t *Turn) AcquireOpen(ctx context.Context) error {
	if err := t.Acquire(ctx); err != nil {
		return err
	}
	if t.closed {
		t.Release()
		return processor.ErrClosed
	}
	return nil
}

// AcquireProduce is AcquireOpen for Produce of n records. It reports whether
// there is anything to produce: with n == 0 it gives the turn back at once and
// returns false and nil (or the error of AcquireOpen), so that Produce of no
// records on a closed client still fails with processor.ErrClosed.
func (t *Turn) AcquireProduce(ctx context.Context, n int) (bool, error) {
	if err := t.AcquireOpen(ctx); err != nil {
		return false, err
	}
	if n == 0 {
		t.Release()
		return false, nil
	}
	return true, nil
}

// Release gives the turn back.
func (t *Turn) Release() { <-t.ch }

// MarkClosed records that the client is closed and reports whether it already
// was. The caller holds the turn.
func (t *Turn) MarkClosed() (already bool) {
	already, t.closed = t.closed, true
	return already
}

// CommitError wraps err, the error of a commit, as what's (e.g.
// "franzgo: commit"); when notOwner (the backend recognised in err that the
// member no longer owns the generation it committed for) the error also wraps
// processor.ErrNotOwner, which tells the processor that the batch's
// partitions moved.
func CommitError(what string, err error, notOwner bool) error {
	if notOwner {
		return fmt.Errorf("%s: %w (%w)", what, processor.ErrNotOwner, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

package state

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/redis/go-redis/v9"
)

var (
	// ErrConflict is the per-lead outcome of a Write whose Update.Base is no
	// longer the stored version of the lead: another writer (typically a
	// processor that took over the lead's partition, or a concurrent writer of
	// the same lead from another partition) got there first. Nothing of that
	// update was written. The caller must Load the lead again, re-apply its
	// events to the fresh record and write again; the idempotency offsets make
	// re-applying safe.
	ErrConflict = errors.New("state: version conflict")

	// ErrNotFound is returned by Get for a lead that has no record (never
	// written, or erased).
	ErrNotFound = errors.New("state: lead not found")

	// ErrUnavailable is wrapped by every error caused by Redis being
	// unreachable, timing out, loading, failing over or refusing writes for a
	// transient reason. errors.Is(err, ErrUnavailable) and IsRetryable(err)
	// report such errors; the original cause stays reachable with errors.Is
	// and errors.As. The store never retries by itself: the caller backs off
	// and retries the whole step (Load, re-apply, Write), which is safe.
	ErrUnavailable = errors.New("redis unavailable")

	// ErrIndexIncomplete is wrapped (together with ErrUnavailable) by a Write
	// result, in Redis Cluster only, when the lead's record was written but
	// one or more of its identity index entries could not be: the Result
	// carries the new Record, and the caller should write the same
	// Identities again with that Record as Base (index writes are
	// idempotent). Until then Resolve may not find the lead by those
	// identities; the record itself is complete.
	ErrIndexIncomplete = errors.New("state: identity index incomplete")
)

// IsRetryable reports whether err is a transient failure of Redis (or of the
// network to it) after which the same operation may succeed: connection
// refused or reset, timeouts, pool exhaustion, and the server replies
// LOADING, CLUSTERDOWN, TRYAGAIN, MASTERDOWN, READONLY, BUSY, OOM,
// NOREPLICAS, MOVED, ASK and "max number of clients". It is false for nil,
// ErrConflict (reload instead), ErrNotFound, a cancelled context, a closed
// store, bad input and authentication or script errors.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	return transient(err)
}

var retryablePrefixes = []string{
	"LOADING", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "READONLY", "BUSY",
	"OOM", "NOREPLICAS", "MOVED", "ASK", "max number of clients",
}

// transient classifies a raw error from go-redis or the network.
func transient(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, ErrConflict),
		errors.Is(err, ErrNotFound),
		errors.Is(err, context.Canceled),
		errors.Is(err, redis.ErrClosed):
		return false
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, redis.ErrPoolTimeout),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ETIMEDOUT),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH):
		return true
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		for _, p := range retryablePrefixes {
			if redis.HasErrorPrefix(err, p) {
				return true
			}
		}
		return false
	}
	var nerr net.Error
	return errors.As(err, &nerr)
}

// notSent reports whether err proves that a command never reached Redis.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED)
}

// wrapErr adds the operation to err and marks transient failures with
// ErrUnavailable.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if transient(err) {
		return fmt.Errorf("state: %s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("state: %s: %w", op, err)
}

// Package teststore opens a state store for tests: on the disposable Redis
// server named by LEADSCORE_REDIS_ADDR when it is set, else on an embedded
// miniredis, under a key prefix of its own, closed when the test ends.
package teststore

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/leadscore/leadscore/state"
)

var seq atomic.Int64

// Open opens a store with o on LEADSCORE_REDIS_ADDR or, without it, on a new
// miniredis, which it returns (nil on a real server). o.KeyPrefix (default
// "lst") gets a unique suffix, so that tests sharing a server never meet. It
// fails t if the store does not open.
func Open(t testing.TB, o state.Options) (*state.Store, *miniredis.Miniredis) {
	t.Helper()
	if addr := os.Getenv("LEADSCORE_REDIS_ADDR"); addr != "" {
		o.Addrs = []string{addr}
		return open(t, o), nil
	}
	return Mini(t, o)
}

// Mini is Open on a new miniredis whatever the environment says: for tests
// that stop and restart the server.
func Mini(t testing.TB, o state.Options) (*state.Store, *miniredis.Miniredis) {
	t.Helper()
	mr := miniredis.RunT(t)
	o.Addrs = []string{mr.Addr()}
	return open(t, o), mr
}

func open(t testing.TB, o state.Options) *state.Store {
	t.Helper()
	if o.KeyPrefix == "" {
		o.KeyPrefix = "lst"
	}
	o.KeyPrefix = fmt.Sprintf("%s%d-%d", o.KeyPrefix, time.Now().UnixNano(), seq.Add(1))
	s, err := state.New(context.Background(), o)
	if err != nil {
		t.Fatalf("teststore: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

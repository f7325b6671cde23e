package state

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Server settings the key layout relies on (docs/state.md, "Recommended
// redis.conf").
const (
	// AdvisedListpackValue is the hash-max-listpack-value at which lead
	// records stay listpack-encoded. Real scoring states average ~450 B and
	// reach ~1 KB (p99) with their identities and offsets; one record over
	// the limit turns its whole bucket (~32 leads) into a hashtable, which
	// holds the same records in more memory (docs/state.md, "Recommended
	// redis.conf").
	AdvisedListpackValue = 4096
	// AdvisedListpackEntries is the hash-max-listpack-entries that keeps a
	// bucket (~32 records, tombstones and its summaries) and an identity
	// index bucket (~128 entries) listpack-encoded.
	AdvisedListpackEntries = 512
)

// Advice reads the server's settings and returns, for each one that costs
// memory or safety with this key layout, what to change and why; nothing
// when all is well. A server that refuses CONFIG GET (managed services
// often do) gets no advice rather than an error: the settings are then the
// provider's. In Cluster the node that answers speaks for all.
func (s *Store) Advice(ctx context.Context) []string { return Advice(ctx, s.rdb) }

// Advice is Store.Advice for any client of the server, before a store is
// opened (a benchmark checks the server it measures).
func Advice(ctx context.Context, rdb redis.UniversalClient) []string {
	m, err := rdb.ConfigGet(ctx, "*").Result()
	if err != nil {
		return nil
	}
	var out []string
	atLeast := func(name string, want int, why string) {
		v, ok := m[name]
		if !ok {
			return
		}
		if n, err := strconv.Atoi(v); err == nil && n < want {
			out = append(out, fmt.Sprintf("%s is %d, set it to %d: %s", name, n, want, why))
		}
	}
	atLeast("hash-max-listpack-value", AdvisedListpackValue,
		"a lead record larger than it turns its whole bucket of ~32 leads into a hashtable, which takes more memory per lead")
	atLeast("hash-max-listpack-entries", AdvisedListpackEntries,
		"buckets with more fields than it become hashtables, which take more memory per lead")
	if p, ok := m["maxmemory-policy"]; ok && p != "noeviction" {
		out = append(out, fmt.Sprintf("maxmemory-policy is %s, set it to noeviction: evicting a bucket silently loses the state of ~32 leads", p))
	}
	return out
}

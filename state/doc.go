// Package state is the Redis store of per-lead state for the leadscore
// processor: each lead's opaque scoring state with the offsets that make
// replays idempotent, an identity index (anonymousId, userId, e-mail → lead),
// decay timers indexed by shard, and leaderboards per stage.
//
// It works with a standalone server, Sentinel or Cluster (go-redis
// UniversalClient). All keys of one lead share a hash tag, and every batch
// operation costs a fixed number of round trips: Load and Resolve one, Write
// one (two in Cluster when identities are indexed), however many leads.
//
// # Writing
//
// The processor loads the leads of a batch, applies events to the records
// and writes them back:
//
//	recs, err := st.Load(ctx, ids)              // one round trip
//	u := state.Update{Base: recs[id], Data: enc, Offsets: map[string]int64{"web/3": off}, …}
//	res, err := st.Write(ctx, []state.Update{u}) // one round trip
//
// A write is a compare-and-set on the version of its Base: a zombie
// processor, or any writer that read an older version, gets ErrConflict and
// must reload and re-apply (its events are then recognised by Offsets, so
// nothing counts twice). Each lead's record, offsets, leaderboard entry and
// timer change atomically; the batch is not a transaction across leads.
//
// Errors caused by Redis being down, slow, loading or failing over wrap
// ErrUnavailable (IsRetryable): the store never retries itself; the caller
// backs off, reloads and retries.
//
// See docs/state.md for the key layout, memory per lead, the stitching
// protocol and the consistency argument.
package state

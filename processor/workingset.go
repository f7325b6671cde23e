package processor

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/leadscore/leadscore/state"
)

// workingSet keeps, between batches, the records of the leads the processor
// works on and the identity-index answers it read or wrote, so that a batch
// reads Redis only for leads and identities it does not hold.
//
// It is sound only while this processor is the only writer of its leads
// (sole ownership, Config.WorkingSet): a record in it is what this process
// last read or wrote. Every write is still a compare-and-set, so a record
// that someone else changed meanwhile (an erasure, a member that owned the
// partitions in between) is caught at the write: the set is then emptied and
// the batch starts over from Redis (errStaleWorkingSet). An index answer is
// not checked that way, so the set is also emptied whenever the client's
// assignment changes: another member may have written in between.
type workingSet struct {
	mu      sync.Mutex
	records *simplelru.LRU[string, state.Record]
	// index holds the store's answer for an identity (Resolve's, raw: the
	// lead it names or its home lead id).
	index *simplelru.LRU[string, string]
	// gen counts purges: an answer read from Redis before a purge is not
	// kept after it.
	gen uint64
	// hits and misses count the records and index answers asked for.
	hits, misses uint64
}

// identitiesPerLead sizes the index part of the set: leads have one to
// three identities (an anonymous id, a user id, an address).
const identitiesPerLead = 3

func newWorkingSet(leads int) *workingSet {
	records, _ := simplelru.NewLRU[string, state.Record](leads, nil)
	index, _ := simplelru.NewLRU[string, string](identitiesPerLead*leads, nil)
	return &workingSet{records: records, index: index}
}

// purge empties the set.
func (ws *workingSet) purge() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.purgeLocked()
}

// purgeLocked empties the set; the caller holds ws.mu.
func (ws *workingSet) purgeLocked() {
	ws.records.Purge()
	ws.index.Purge()
	ws.gen++
}

// generation returns the number of purges so far.
func (ws *workingSet) generation() uint64 {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.gen
}

// stats returns the hits and misses so far.
func (ws *workingSet) stats() (hits, misses uint64) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.hits, ws.misses
}

// assignmentCounter is implemented by clients that count the changes of
// their partitions (both backends do: Assignments).
type assignmentCounter interface {
	Assignments() uint64
}

// checkWorkingSet empties the working set when the member's partitions
// changed since the last batch: another member may have written the leads
// in between. A client that does not count its assignments is judged by
// the partitions it owns now.
func (p *Processor) checkWorkingSet(owned []TopicPartition) {
	if p.ws == nil {
		return
	}
	if p.counter != nil {
		if n := p.counter.Assignments(); n != p.assignment {
			p.assignment = n
			p.ws.purge()
		}
		return
	}
	if !slices.Equal(owned, p.assignedAtCheck) {
		p.assignedAtCheck = slices.Clone(owned)
		p.ws.purge()
	}
}

// errStaleWorkingSet means a write lost its compare-and-set on a record the
// working set held: someone else wrote the lead. The set was emptied; the
// batch must start over, reading from Redis.
var errStaleWorkingSet = errors.New("processor: a lead changed outside this processor; its working set was emptied")

// tally counts asked lookups of which missed were not held, and returns the
// set's generation. The caller holds ws.mu.
func (ws *workingSet) tally(asked, missed int) (gen uint64) {
	ws.hits += uint64(asked - missed)
	ws.misses += uint64(missed)
	return ws.gen
}

// recordOrAbsent is the store's record of id, or an absent record of it: an
// absence is held too, so a new lead's next event costs no read.
func recordOrAbsent(recs map[string]state.Record, id string) state.Record {
	if r, ok := recs[id]; ok {
		return r
	}
	return state.Record{LeadID: id}
}

// cachedStore is the Store seen through a working set.
type cachedStore struct {
	Store
	ws *workingSet
}

// ResolveLoad answers each identity whose index answer and record (the
// identity as a lead id) are both held, and asks the store for the others.
func (c *cachedStore) ResolveLoad(ctx context.Context, keys []string) (map[string]string, map[string]state.Record, error) {
	idx := make(map[string]string, len(keys))
	recs := make(map[string]state.Record, len(keys))
	var miss []string
	ws := c.ws
	ws.mu.Lock()
	for _, k := range keys {
		l, ok := ws.index.Get(k)
		var r state.Record
		if ok {
			r, ok = ws.records.Get(k)
		}
		if !ok {
			miss = append(miss, k)
			continue
		}
		idx[k], recs[k] = l, r
	}
	gen := ws.tally(len(keys), len(miss))
	ws.mu.Unlock()
	if len(miss) == 0 {
		return idx, recs, nil
	}
	midx, mrecs, err := c.Store.ResolveLoad(ctx, miss)
	if err != nil {
		return nil, nil, err
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, k := range miss {
		r := recordOrAbsent(mrecs, k)
		idx[k], recs[k] = midx[k], r
		if ws.gen == gen {
			ws.index.Add(k, midx[k])
			ws.records.Add(k, r.Detached())
		}
	}
	return idx, recs, nil
}

// Load answers the leads held and asks the store for the others.
func (c *cachedStore) Load(ctx context.Context, ids []string) (map[string]state.Record, error) {
	recs := make(map[string]state.Record, len(ids))
	var miss []string
	ws := c.ws
	ws.mu.Lock()
	for _, id := range ids {
		if r, ok := ws.records.Get(id); ok {
			recs[id] = r
		} else {
			miss = append(miss, id)
		}
	}
	gen := ws.tally(len(ids), len(miss))
	ws.mu.Unlock()
	if len(miss) == 0 {
		return recs, nil
	}
	mrecs, err := c.Store.Load(ctx, miss)
	if err != nil {
		return nil, err
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, id := range miss {
		r := recordOrAbsent(mrecs, id)
		recs[id] = r
		if ws.gen == gen {
			ws.records.Add(id, r.Detached())
		}
	}
	return recs, nil
}

// Write writes through and keeps what was written: each lead's new record,
// and the index answers of the identities it was written with. A lead whose
// write failed is dropped (its reply may have been lost: the write may or
// may not have applied); a lost compare-and-set empties the whole set.
func (c *cachedStore) Write(ctx context.Context, ups []state.Update) ([]state.Result, error) {
	res, err := c.Store.Write(ctx, ups)
	ws := c.ws
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if err != nil {
		for i := range ups {
			c.forget(&ups[i])
		}
		return res, err
	}
	for i, r := range res {
		u := &ups[i]
		switch {
		case r.Err == nil:
			ws.records.Add(r.LeadID, r.Record.Detached())
			for _, k := range u.Identities {
				ws.index.Add(k, r.LeadID)
			}
		case errors.Is(r.Err, state.ErrIndexIncomplete):
			// The record is written; some index entries may not be.
			ws.records.Add(r.LeadID, r.Record.Detached())
			for _, k := range u.Identities {
				ws.index.Remove(k)
			}
		case errors.Is(r.Err, state.ErrConflict):
			ws.purgeLocked()
		default:
			c.forget(u)
		}
	}
	return res, nil
}

// forget drops what an update may have changed. The caller holds ws.mu.
func (c *cachedStore) forget(u *state.Update) {
	c.ws.records.Remove(u.Base.LeadID)
	for _, k := range u.Identities {
		c.ws.index.Remove(k)
	}
}

// ClaimDueShards claims timers and drops the claimed leads: a claim rewrites
// their records' deadlines, so the sweep reads them again from the store.
func (c *cachedStore) ClaimDueShards(ctx context.Context, shards []int, now int64, lease time.Duration, limit int) ([]state.Timer, error) {
	due, err := c.Store.ClaimDueShards(ctx, shards, now, lease, limit)
	ws := c.ws
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, t := range due {
		ws.records.Remove(t.LeadID)
	}
	return due, err
}

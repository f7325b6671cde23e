package processor

import (
	"context"
	"errors"
	"testing"

	"github.com/leadscore/leadscore/internal/teststore"
	"github.com/leadscore/leadscore/state"
)

// countingStore counts what reaches the store.
type countingStore struct {
	*state.Store
	resolved, loaded int // identities and leads asked for
}

func (c *countingStore) ResolveLoad(ctx context.Context, keys []string) (map[string]string, map[string]state.Record, error) {
	c.resolved += len(keys)
	return c.Store.ResolveLoad(ctx, keys)
}

func (c *countingStore) Load(ctx context.Context, ids []string) (map[string]state.Record, error) {
	c.loaded += len(ids)
	return c.Store.Load(ctx, ids)
}

func newTestStore(t *testing.T) *state.Store {
	t.Helper()
	s, _ := teststore.Open(t, state.Options{KeyPrefix: "lsws", TimerShards: 2, Buckets: 8})
	return s
}

func TestWorkingSet(t *testing.T) {
	ctx := context.Background()
	raw := newTestStore(t)
	back := &countingStore{Store: raw}
	ws := newWorkingSet(2)
	c := &cachedStore{Store: back, ws: ws}

	// A miss reads the store and keeps the answers, absent leads included.
	idx, recs, err := c.ResolveLoad(ctx, []string{"anon:a", "user:u"})
	if err != nil {
		t.Fatal(err)
	}
	if back.resolved != 2 || recs["anon:a"].Exists() || recs["anon:a"].LeadID != "anon:a" || !state.IsHomeLeadID("user:u", idx["user:u"]) {
		t.Fatalf("first read: %d asked, %+v, %v", back.resolved, recs, idx)
	}
	if _, _, err := c.ResolveLoad(ctx, []string{"anon:a", "user:u"}); err != nil || back.resolved != 2 {
		t.Fatalf("second read asked the store for %d identities (err %v), want none", back.resolved-2, err)
	}

	// A write is kept: the new record and the index answers it wrote.
	res, err := c.Write(ctx, []state.Update{{Base: recs["user:u"], Data: []byte("s1"), Identities: []string{"user:u", "anon:a"}}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	idx, _, err = c.ResolveLoad(ctx, []string{"anon:a"})
	if err != nil || back.resolved != 2 {
		t.Fatalf("read after write asked the store (%d, %v)", back.resolved, err)
	}
	// The answer is the store's own: the index names user:u for anon:a.
	fresh, _ := raw.Resolve(ctx, []string{"anon:a"})
	if idx["anon:a"] != "user:u" || fresh["anon:a"] != "user:u" {
		t.Fatalf("anon:a resolves to %q held, %q in the store; want user:u", idx["anon:a"], fresh["anon:a"])
	}
	got, err := c.Load(ctx, []string{"user:u"})
	if err != nil || back.loaded != 0 || string(got["user:u"].Data) != "s1" || got["user:u"].Version != res[0].Record.Version {
		t.Fatalf("held record %+v (loaded %d, err %v), want the written one", got["user:u"], back.loaded, err)
	}

	// Least recently used out: two leads fit.
	if _, err := c.Load(ctx, []string{"user:v", "user:w"}); err != nil || back.loaded != 2 {
		t.Fatalf("loaded %d (err %v), want 2", back.loaded, err)
	}
	if _, err := c.Load(ctx, []string{"user:u"}); err != nil || back.loaded != 3 {
		t.Fatalf("user:u was evicted, yet loaded %d (err %v)", back.loaded, err)
	}

	// Someone else writes the lead: the held record loses its
	// compare-and-set, and the whole set is emptied.
	held, _ := c.Load(ctx, []string{"user:u"})
	other, err := raw.Load(ctx, []string{"user:u"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := raw.Write(ctx, []state.Update{{Base: other["user:u"], Data: []byte("other")}}); err != nil || r[0].Err != nil {
		t.Fatal(err, r)
	}
	gen := ws.generation()
	res, err = c.Write(ctx, []state.Update{{Base: held["user:u"], Data: []byte("stale")}})
	if err != nil || !errors.Is(res[0].Err, state.ErrConflict) {
		t.Fatalf("stale write: %v, %+v; want a conflict", err, res)
	}
	if ws.generation() == gen || ws.records.Len() != 0 || ws.index.Len() != 0 {
		t.Fatalf("after a conflict: generation %d → %d, %d records and %d answers held; want it emptied",
			gen, ws.generation(), ws.records.Len(), ws.index.Len())
	}
	got, err = c.Load(ctx, []string{"user:u"})
	if err != nil || string(got["user:u"].Data) != "other" {
		t.Fatalf("after the conflict user:u is %q (%v), want the store's", got["user:u"].Data, err)
	}

	// A read that a purge overtook is not kept.
	ws.purge()
	if ws.records.Len() != 0 {
		t.Fatal("purge kept records")
	}
}

// A lead erased behind the processor's back (the API's erasure) while its
// working set holds it: the next event finds the lead gone, as without a
// working set — the write's lost compare-and-set empties the set and the
// batch starts over from Redis.
func TestWorkingSetSeesAnErasure(t *testing.T) {
	ctx := context.Background()
	raw := newTestStore(t)
	ws := newWorkingSet(100)
	c := &cachedStore{Store: raw, ws: ws}
	_, recs, err := c.ResolveLoad(ctx, []string{"user:e", "anon:e"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Write(ctx, []state.Update{{Base: recs["user:e"], Data: []byte("x"), Identities: []string{"user:e", "anon:e"}}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	if err := raw.Erase(ctx, "user:e"); err != nil {
		t.Fatal(err)
	}
	if idx, _, err := c.ResolveLoad(ctx, []string{"anon:e"}); err != nil || idx["anon:e"] != "user:e" {
		t.Fatalf("anon:e held as %q (%v), want user:e", idx["anon:e"], err)
	}
	held, _ := c.Load(ctx, []string{"user:e"})
	if !held["user:e"].Exists() {
		t.Fatal("the working set should still hold the erased lead (nothing told it)")
	}
	res, err = c.Write(ctx, []state.Update{{Base: held["user:e"], Data: []byte("y")}})
	if err != nil || !errors.Is(res[0].Err, state.ErrConflict) {
		t.Fatalf("write over an erased lead: %v %+v, want a conflict", err, res)
	}
	idx, recs, err := c.ResolveLoad(ctx, []string{"anon:e"})
	if err != nil {
		t.Fatal(err)
	}
	if !state.IsHomeLeadID("anon:e", idx["anon:e"]) || recs["anon:e"].Exists() {
		t.Fatalf("after the conflict anon:e resolves to %q, want no index entry (erased)", idx["anon:e"])
	}
}

// countedAssignments is a client's assignment count.
type countedAssignments struct{ n uint64 }

func (c *countedAssignments) Assignments() uint64 { return c.n }

// The set is emptied when the member's partitions change, since another
// member may have written its leads in between: by the client's assignment
// count when it keeps one, else by the partitions it reports.
func TestWorkingSetEmptiedOnReassignment(t *testing.T) {
	a, b := TopicPartition{"web", 0}, TopicPartition{"web", 1}
	hold := func(ws *workingSet) {
		ws.records.Add("user:u", state.Record{})
		ws.index.Add("anon:a", "user:u")
	}
	counter := &countedAssignments{n: 1}
	cases := []struct {
		name    string
		counter assignmentCounter
		step    func()
		owned   []TopicPartition
		emptied bool
	}{
		{name: "same assignment count", counter: counter, step: func() {}, owned: []TopicPartition{a}},
		{name: "a new assignment", counter: counter, step: func() { counter.n++ }, owned: []TopicPartition{a}, emptied: true},
		{name: "a lost and regained assignment, same partitions", counter: counter, step: func() { counter.n += 2 },
			owned: []TopicPartition{a}, emptied: true},
		{name: "no counter, same partitions", step: func() {}, owned: []TopicPartition{a}},
		{name: "no counter, partitions changed", step: func() {}, owned: []TopicPartition{a, b}, emptied: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &Processor{ws: newWorkingSet(4), counter: tc.counter}
			p.checkWorkingSet([]TopicPartition{a}) // the first check takes the current assignment
			hold(p.ws)
			gen := p.ws.generation()
			tc.step()
			p.checkWorkingSet(tc.owned)
			if emptied := p.ws.records.Len() == 0 && p.ws.index.Len() == 0; emptied != tc.emptied {
				t.Errorf("emptied %v (generation %d → %d), want %v", emptied, gen, p.ws.generation(), tc.emptied)
			}
		})
	}
}

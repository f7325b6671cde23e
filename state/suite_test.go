package state

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// roundTrips counts what reaches the network: each pipeline once, each
// single command once.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// count runs fn and returns the round trips it made.
func (h *roundTrips) count(fn func()) int64 {
	before := h.n.Load()
	fn()
	return h.n.Load() - before
}

func uniquePrefix(t *testing.T) string {
	return fmt.Sprintf("lst%d", rand.Uint64()%1e12)
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustWrite(t *testing.T, st *Store, us ...Update) []Result {
	t.Helper()
	res, err := st.Write(tctx(t), us)
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("write %s: %v", r.LeadID, r.Err)
		}
	}
	return res
}

func mustLoad(t *testing.T, st *Store, ids ...string) map[string]Record {
	t.Helper()
	m, err := st.Load(tctx(t), ids)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return m
}

func mustGet(t *testing.T, st *Store, id string) Record {
	t.Helper()
	r, err := st.Get(tctx(t), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return r
}

// claimAll sweeps every shard once.
func claimAll(t *testing.T, st *Store, now int64, lease time.Duration) []Timer {
	t.Helper()
	var out []Timer
	for sh := 0; sh < st.TimerShards(); sh++ {
		ts, err := st.ClaimDue(tctx(t), sh, now, lease, 1000)
		if err != nil {
			t.Fatalf("claim shard %d: %v", sh, err)
		}
		out = append(out, ts...)
	}
	return out
}

func leadIDs(n int, tag string) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = HomeLeadID(fmt.Sprintf("anon:%s-%d", tag, i))
	}
	return ids
}

// runStoreSuite is the conformance suite every backend runs: miniredis
// always, a real server with LEADSCORE_REDIS_ADDR, a real 3-master Cluster
// with LEADSCORE_REDIS_CLUSTER=1. newStore returns a store with a fresh key
// prefix and a round-trip counting hook installed (see hookOf).
func runStoreSuite(t *testing.T, newStore func(t *testing.T) *Store) {
	t.Run("RoundTripsPerBatch", func(t *testing.T) { testRoundTrips(t, newStore(t)) })
	t.Run("CreateLoadRoundTrip", func(t *testing.T) { testCreateLoad(t, newStore(t)) })
	t.Run("ConflictStaleWriterLoses", func(t *testing.T) { testConflict(t, newStore(t)) })
	t.Run("OffsetsMergeAndReplay", func(t *testing.T) { testOffsetsReplay(t, newStore(t)) })
	t.Run("CommitAckAndOffsetsBelow", func(t *testing.T) { testCommitAck(t, newStore(t)) })
	t.Run("StitchTombstoneResolve", func(t *testing.T) { testStitch(t, newStore(t)) })
	t.Run("EraseThenNewEvents", func(t *testing.T) { testErase(t, newStore(t)) })
	t.Run("ClaimDueExactlyOnce", func(t *testing.T) { testClaimDue(t, newStore(t)) })
	t.Run("TopAcrossShards", func(t *testing.T) { testTop(t, newStore(t)) })
	t.Run("SeveralBoards", func(t *testing.T) { testSeveralBoards(t, newStore(t)) })
	t.Run("SecondProcessDecodes", func(t *testing.T) { testSecondProcess(t, newStore(t)) })
	t.Run("TopicEpochs", func(t *testing.T) { testTopicEpochs(t, newStore(t)) })
	t.Run("NameDictionary", func(t *testing.T) { testNames(t, newStore(t)) })
}

var hooks sync.Map // *Store -> *roundTrips

func hookOf(st *Store) *roundTrips {
	h, _ := hooks.Load(st)
	return h.(*roundTrips)
}

// withHook installs the counting hook; backends call it from newStore.
func withHook(st *Store) *Store {
	h := &roundTrips{}
	st.addHook(h)
	hooks.Store(st, h)
	return st
}

func testRoundTrips(t *testing.T, st *Store) {
	ctx := tctx(t)
	h := hookOf(st)
	ids := leadIDs(500, "rt")
	// Names (topics, stages) are registered once per process: warm up.
	mustWrite(t, st, Update{Base: Record{LeadID: "warm"}, Offsets: map[string]int64{"web/1": 1}, Stage: "mql", Rank: 1, Deadline: 1},
		Update{Base: Record{LeadID: "warm2"}, Stage: "sql"})

	var recs map[string]Record
	if n := h.count(func() { recs = mustLoad(t, st, ids...) }); n != 1 {
		t.Errorf("Load of 500 leads: %d round trips, want 1", n)
	}
	us := make([]Update, len(ids))
	for i, id := range ids {
		us[i] = Update{Base: recs[id], Data: []byte("d" + id), Offsets: map[string]int64{"web/1": int64(i)},
			Stage: "mql", Rank: float64(i), Deadline: time.Now().Add(time.Hour).UnixMilli(),
			Identities: []string{fmt.Sprintf("anon:rt-%d", i), fmt.Sprintf("email:rt%d@example.com", i)}}
	}
	var res []Result
	n := h.count(func() { res = mustWrite(t, st, us...) })
	want := int64(1)
	if st.cluster {
		want = 2 // records, then the identity index (other slots)
	}
	if n != want {
		t.Errorf("Write of 500 new leads with identities: %d round trips, want %d", n, want)
	}
	for i := range us {
		us[i] = Update{Base: res[i].Record, Data: []byte("e"), Offsets: map[string]int64{"web/1": int64(1000 + i)},
			Stage: "sql", Rank: float64(i), Deadline: time.Now().Add(2 * time.Hour).UnixMilli()}
	}
	if n := h.count(func() { mustWrite(t, st, us...) }); n != 1 {
		t.Errorf("Write of 500 updates: %d round trips, want 1", n)
	}
	idents := make([]string, 0, 500)
	for i := 0; i < 250; i++ {
		idents = append(idents, fmt.Sprintf("anon:rt-%d", i), fmt.Sprintf("email:rt%d@example.com", i))
	}
	var got map[string]string
	if n := h.count(func() {
		var err error
		got, err = st.Resolve(ctx, idents)
		if err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Errorf("Resolve of 500 identities: %d round trips, want 1", n)
	}
	for i := 0; i < 250; i++ {
		if got[fmt.Sprintf("email:rt%d@example.com", i)] != ids[i] || got[fmt.Sprintf("anon:rt-%d", i)] != ids[i] {
			t.Fatalf("resolve %d: got %q/%q want %q", i, got[fmt.Sprintf("anon:rt-%d", i)], got[fmt.Sprintf("email:rt%d@example.com", i)], ids[i])
		}
	}
	// ResolveLoad: the same answers as Resolve and Load of the same strings,
	// in one round trip. The identities name no lead of their own here, the
	// lead ids do: mix both.
	mixed := append(append([]string(nil), idents[:100]...), ids[:100]...)
	var idx2 map[string]string
	var recs2 map[string]Record
	if n := h.count(func() {
		var err error
		idx2, recs2, err = st.ResolveLoad(ctx, mixed)
		if err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Errorf("ResolveLoad of 200 keys: %d round trips, want 1", n)
	}
	idx1, err := st.Resolve(ctx, mixed)
	if err != nil {
		t.Fatal(err)
	}
	recs1 := mustLoad(t, st, mixed...)
	for _, k := range mixed {
		if idx2[k] != idx1[k] {
			t.Fatalf("ResolveLoad index %s = %q, Resolve %q", k, idx2[k], idx1[k])
		}
		if recs2[k].Version != recs1[k].Version || string(recs2[k].Data) != string(recs1[k].Data) {
			t.Fatalf("ResolveLoad record %s = v%d %q, Load v%d %q", k, recs2[k].Version, recs2[k].Data, recs1[k].Version, recs1[k].Data)
		}
	}
	if recs2[ids[0]].Version == 0 || idx2[idents[0]] != ids[0] {
		t.Fatalf("ResolveLoad found nothing: %+v %q", recs2[ids[0]], idx2[idents[0]])
	}
	if n := h.count(func() {
		if _, err := st.Top(ctx, "sql", 10); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Errorf("Top: %d round trips, want 1", n)
	}
}

func testCreateLoad(t *testing.T, st *Store) {
	id := HomeLeadID("anon:123e4567-e89b-12d3-a456-426614174000")
	recs := mustLoad(t, st, id)
	if recs[id].Version != 0 || recs[id].Exists() {
		t.Fatalf("new lead: %+v", recs[id])
	}
	if _, err := st.Get(tctx(t), id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a new lead: %v, want ErrNotFound", err)
	}
	data := []byte{0, 1, 2, 255, 'x'}
	res := mustWrite(t, st, Update{Base: recs[id], Data: data,
		Offsets: map[string]int64{"web-events/3": 42}, Stage: "lead", Rank: 3.5, Deadline: 1,
		Identities: []string{"anon:123e4567-e89b-12d3-a456-426614174000", "email:Jane@Example.com", "phone:+33 1"}})
	got := mustGet(t, st, id)
	if got.Version != res[0].Version || got.Version == 0 || string(got.Data) != string(data) ||
		got.Stage != "lead" || got.Offsets()["web-events/3"] != 42 || got.MergedInto != "" ||
		!slices.Equal(got.Identities, []string{"anon:123e4567-e89b-12d3-a456-426614174000", "email:Jane@Example.com", "phone:+33 1"}) {
		t.Fatalf("got %+v", got)
	}
	if !got.Applied("web-events", 3, 42) || got.Applied("web-events", 3, 43) || got.Applied("web-events", 4, 0) {
		t.Fatal("Applied")
	}
	r2 := res[0].Record
	if r2.Version != got.Version || string(r2.Data) != string(got.Data) || !slices.Equal(r2.Identities, got.Identities) || r2.Offsets()["web-events/3"] != 42 {
		t.Fatalf("Result.Record %+v differs from stored %+v", r2, got)
	}
	if !r2.Applied("web-events", 3, 42) || r2.Applied("web-events", 3, 43) || r2.Applied("email-events", 3, 0) || recs[id].Applied("web-events", 3, 0) {
		t.Fatal("Applied on a written record, or on a new lead's")
	}
	// Record lists share the store's snapshot: their capacity is capped, so
	// that a caller's append copies instead of writing into it (a repeated
	// identity leaves the merged list shorter than its allocation).
	dupID := HomeLeadID("anon:dup")
	dup := mustWrite(t, st, Update{Base: mustLoad(t, st, dupID)[dupID], Identities: []string{"anon:dup", "email:dup@x", "anon:dup"}})[0].Record
	if len(dup.Identities) != 2 || cap(dup.Identities) != 2 || cap(got.Identities) != len(got.Identities) {
		t.Fatalf("record lists %q with spare capacity (%d), or %d/%d", dup.Identities, cap(dup.Identities), len(got.Identities), cap(got.Identities))
	}
	// A second write from the Result's record needs no reload.
	mustWrite(t, st, Update{Base: r2, Data: []byte("two"), Stage: "lead", Rank: 4})
	if g := mustGet(t, st, id); string(g.Data) != "two" || g.Version != r2.Version+1 || g.Offsets()["web-events/3"] != 42 {
		t.Fatalf("after second write: %+v", g)
	}
}

func testConflict(t *testing.T, st *Store) {
	ctx := tctx(t)
	id := HomeLeadID("anon:conflict")
	base := mustLoad(t, st, id)[id]
	mustWrite(t, st, Update{Base: base, Data: []byte("v1"), Stage: "lead", Rank: 1, Deadline: 5000})
	v1 := mustGet(t, st, id)

	// Two writers read v1. The new owner writes first; the zombie loses.
	owner := Update{Base: v1, Data: []byte("owner"), Offsets: map[string]int64{"web/0": 10}, Stage: "mql", Rank: 7, Deadline: 7000}
	zombie := Update{Base: v1, Data: []byte("zombie"), Offsets: map[string]int64{"web/0": 9, "email/0": 3},
		Stage: "sql", Rank: 99, Deadline: 3000, Identities: []string{"email:zombie@example.com"}}
	mustWrite(t, st, owner)
	res, err := st.Write(ctx, []Update{zombie})
	if err != nil {
		t.Fatal(err)
	}
	res2, err := st.Write(ctx, []Update{{Base: Record{LeadID: id}, Data: []byte("create")}})
	if err != nil {
		t.Fatal(err)
	}
	res = append(res, res2...)
	for _, r := range res {
		if !errors.Is(r.Err, ErrConflict) || IsRetryable(r.Err) {
			t.Fatalf("stale write: %+v, want ErrConflict", r)
		}
	}
	got := mustGet(t, st, id)
	if res[0].Version != got.Version || res[1].Version != got.Version {
		t.Fatalf("conflict reports version %d/%d, stored %d", res[0].Version, res[1].Version, got.Version)
	}
	// Nothing of the zombie's update is visible: record, offsets, board,
	// timer, identity index.
	if string(got.Data) != "owner" || got.Stage != "mql" || got.Offsets()["web/0"] != 10 || len(got.Offsets()) != 1 || len(got.Identities) != 0 {
		t.Fatalf("stored %+v", got)
	}
	if top, _ := st.Top(ctx, "sql", 10); len(top) != 0 {
		t.Fatalf("zombie reached the sql board: %v", top)
	}
	if top, _ := st.Top(ctx, "mql", 10); len(top) != 1 || top[0].LeadID != id || top[0].Rank != 7 {
		t.Fatalf("mql board: %v", top)
	}
	if ts := claimAll(t, st, 4000, time.Minute); len(ts) != 0 {
		t.Fatalf("zombie's deadline armed: %v", ts)
	}
	if m, _ := st.Resolve(ctx, []string{"email:zombie@example.com"}); m["email:zombie@example.com"] == id {
		t.Fatal("zombie's identity indexed")
	}
	// The loser reloads and re-applies.
	cur := mustGet(t, st, id)
	mustWrite(t, st, Update{Base: cur, Data: []byte("reapplied"), Offsets: map[string]int64{"email/0": 3}, Stage: "mql", Rank: 8, Deadline: 7000})
	if g := mustGet(t, st, id); g.Offsets()["web/0"] != 10 || g.Offsets()["email/0"] != 3 {
		t.Fatalf("after re-apply: %+v", g)
	}

	// Concurrent writers on one lead: exactly one wins each round.
	var wins atomic.Int64
	var wg sync.WaitGroup
	cur = mustGet(t, st, id)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			res, err := st.Write(ctx, []Update{{Base: cur, Data: []byte(strconv.Itoa(w))}})
			if err == nil && res[0].Err == nil {
				wins.Add(1)
			} else if err == nil && !errors.Is(res[0].Err, ErrConflict) {
				t.Errorf("writer %d: %v", w, res[0].Err)
			}
		}(w)
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent writers won, want 1", wins.Load())
	}
}

// applyEvents is a toy engine: Data counts points; events already reflected
// in Offsets add nothing.
type event struct {
	topic     string
	partition int32
	offset    int64
	points    int
}

func applyEvents(rec Record, evs []event) Update {
	pts := 0
	if len(rec.Data) > 0 {
		pts, _ = strconv.Atoi(string(rec.Data))
	}
	offs := map[string]int64{}
	for _, e := range evs {
		if rec.Applied(e.topic, e.partition, e.offset) {
			continue
		}
		pts += e.points
		k := SourceKey(e.topic, e.partition)
		offs[k] = max(offs[k], e.offset)
	}
	return Update{Base: rec, Data: []byte(strconv.Itoa(pts)), Offsets: offs}
}

func testOffsetsReplay(t *testing.T, st *Store) {
	id := HomeLeadID("email:replay@example.com")
	rec := mustLoad(t, st, id)[id]
	batch1 := []event{{"web", 0, 10, 5}, {"email", 1, 5, 10}}
	mustWrite(t, st, applyEvents(rec, batch1))
	// Merge by max: a lower offset for web/0 does not move it back.
	rec = mustGet(t, st, id)
	u := applyEvents(rec, []event{{"web", 1, 3, 1}})
	u.Offsets["web/0"] = 7
	mustWrite(t, st, u)
	rec = mustGet(t, st, id)
	want := map[string]int64{"web/0": 10, "web/1": 3, "email/1": 5}
	if len(rec.Offsets()) != len(want) {
		t.Fatalf("offsets %v, want %v", rec.Offsets(), want)
	}
	for k, v := range want {
		if rec.Offsets()[k] != v {
			t.Fatalf("offsets %v, want %v", rec.Offsets(), want)
		}
	}
	if string(rec.Data) != "16" {
		t.Fatalf("points %s, want 16", rec.Data)
	}
	// Crash after the write, before the Kafka commit: the whole batch is
	// replayed, plus one new event. Only the new one counts.
	replay := append(append([]event{}, batch1...), event{"web", 1, 3, 1}, event{"web", 0, 11, 100})
	mustWrite(t, st, applyEvents(rec, replay))
	rec = mustGet(t, st, id)
	if string(rec.Data) != "116" || rec.Offsets()["web/0"] != 11 {
		t.Fatalf("after replay: %s %v", rec.Data, rec.Offsets())
	}
	// Replaying again changes nothing but the version.
	mustWrite(t, st, applyEvents(rec, replay))
	if g := mustGet(t, st, id); string(g.Data) != "116" {
		t.Fatalf("second replay: %s", g.Data)
	}
}

// A write marked CommitAck says so in the record until a write without the
// mark; OffsetsBelow holds only when every source partition's offset is
// below what the caller knows to be committed.
func testCommitAck(t *testing.T, st *Store) {
	id := HomeLeadID("email:ack@example.com")
	rec := mustLoad(t, st, id)[id]
	u := applyEvents(rec, []event{{"web", 0, 10, 5}, {"email", 1, 5, 10}})
	u.CommitAck = true
	mustWrite(t, st, u)
	rec = mustGet(t, st, id)
	if !rec.CommitAck() {
		t.Fatal("the mark is lost")
	}
	committed := func(c map[string]int64) func(string, int64) bool {
		return func(src string, off int64) bool { n, ok := c[src]; return ok && off < n }
	}
	cases := []struct {
		name string
		c    map[string]int64
		want bool
	}{
		{"both committed past", map[string]int64{"web/0": 11, "email/1": 6}, true},
		{"one at its offset (not yet committed)", map[string]int64{"web/0": 10, "email/1": 6}, false},
		{"one unknown", map[string]int64{"web/0": 11}, false},
		{"other partitions only", map[string]int64{"web/1": 100, "email/0": 100}, false},
	}
	for _, tc := range cases {
		if got := rec.OffsetsBelow(committed(tc.c)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	mustWrite(t, st, applyEvents(rec, []event{{"web", 0, 12, 1}}))
	if rec = mustGet(t, st, id); rec.CommitAck() {
		t.Error("a write without the mark keeps it")
	}
	if (Record{}).OffsetsBelow(func(string, int64) bool { return true }) {
		t.Error("a record without offsets is below anything")
	}
}

// stitch runs the documented stitching protocol: tombstone the absorbed lead
// (freezing it), then write the absorbing lead with the absorbed state,
// identities and id. Each step is skipped when already done, so running it
// again (a replay) is a no-op.
func stitch(t *testing.T, st *Store, absorbed, absorbing string) {
	t.Helper()
	recs := mustLoad(t, st, absorbed, absorbing)
	a, u := recs[absorbed], recs[absorbing]
	if a.MergedInto == "" {
		res := mustWrite(t, st, Update{Base: a, Data: a.Data, MergedInto: absorbing})
		a = res[0].Record
	}
	if slices.Contains(u.Absorbed, absorbed) {
		return
	}
	pu, _ := strconv.Atoi(string(u.Data))
	pa, _ := strconv.Atoi(string(a.Data))
	mustWrite(t, st, Update{Base: u, Data: []byte(strconv.Itoa(pu + pa)), Stage: "mql", Rank: float64(pu + pa),
		Identities: a.Identities, Absorbed: []string{absorbed}})
}

func testStitch(t *testing.T, st *Store) {
	ctx := tctx(t)
	anon, user, email := "anon:visitor-1", "user:u-1", "email:u1@example.com"
	la, lu := HomeLeadID(anon), HomeLeadID(user)
	recs := mustLoad(t, st, la, lu)
	mustWrite(t, st,
		Update{Base: recs[la], Data: []byte("5"), Stage: "lead", Rank: 5, Deadline: 1000, Identities: []string{anon}},
		Update{Base: recs[lu], Data: []byte("20"), Stage: "lead", Rank: 20, Identities: []string{user, email}})
	m, err := st.Resolve(ctx, []string{anon, user, email})
	if err != nil {
		t.Fatal(err)
	}
	if m[anon] != la || m[user] != lu || m[email] != lu {
		t.Fatalf("resolve before stitch: %v", m)
	}

	// Step 1 alone (a crash before step 2): the tombstone redirects.
	mustWrite(t, st, Update{Base: mustGet(t, st, la), Data: []byte("5"), MergedInto: lu})
	a := mustGet(t, st, la)
	if a.MergedInto != lu || string(a.Data) != "5" || a.Stage != "" {
		t.Fatalf("tombstone %+v", a)
	}
	if m, _ := st.Resolve(ctx, []string{anon}); m[anon] != la {
		t.Fatalf("mid-stitch resolve %v: want the tombstone %s", m, la)
	}
	if top, _ := st.Top(ctx, "lead", 10); len(top) != 1 || top[0].LeadID != lu {
		t.Fatalf("tombstone still on the board: %v", top)
	}
	if ts := claimAll(t, st, 5000, time.Minute); len(ts) != 0 {
		t.Fatalf("tombstone kept its timer: %v", ts)
	}
	// The replay finishes the stitch, and a second replay is a no-op.
	stitch(t, st, la, lu)
	u1 := mustGet(t, st, lu)
	stitch(t, st, la, lu)
	stitch(t, st, la, lu)
	u2, a2 := mustGet(t, st, lu), mustGet(t, st, la)
	if u2.Version != u1.Version || string(u2.Data) != "25" || a2.Version != a.Version {
		t.Fatalf("replayed stitch changed state: %+v / %+v", u2, a2)
	}
	if !slices.Equal(u2.Absorbed, []string{la}) || !slices.Contains(u2.Identities, anon) || u2.Stage != "mql" {
		t.Fatalf("absorbing lead %+v", u2)
	}
	m, _ = st.Resolve(ctx, []string{anon, user, email})
	if m[anon] != lu || m[user] != lu || m[email] != lu {
		t.Fatalf("resolve after stitch: %v", m)
	}
	if top, _ := st.Top(ctx, "mql", 10); len(top) != 1 || top[0].LeadID != lu || top[0].Rank != 25 {
		t.Fatalf("mql board %v", top)
	}
	// A tombstone cannot be put back on a board.
	if _, err := st.Write(ctx, []Update{{Base: a2, Stage: "mql"}}); err == nil {
		t.Fatal("tombstone with a stage accepted")
	}

	// A full stitch from scratch, run twice.
	b1, b2 := HomeLeadID("anon:visitor-2"), HomeLeadID("email:b2@example.com")
	recs = mustLoad(t, st, b1, b2)
	mustWrite(t, st,
		Update{Base: recs[b1], Data: []byte("1"), Identities: []string{"anon:visitor-2"}},
		Update{Base: recs[b2], Data: []byte("2"), Identities: []string{"email:b2@example.com"}})
	stitch(t, st, b1, b2)
	first := mustLoad(t, st, b1, b2)
	stitch(t, st, b1, b2)
	second := mustLoad(t, st, b1, b2)
	for _, id := range []string{b1, b2} {
		if first[id].Version != second[id].Version {
			t.Fatalf("second stitch wrote %s", id)
		}
	}
	if string(second[b2].Data) != "3" {
		t.Fatalf("stitched data %s", second[b2].Data)
	}
}

func testErase(t *testing.T, st *Store) {
	ctx := tctx(t)
	anon, email := "anon:erase-me", "email:erase@example.com"
	id := HomeLeadID(anon)
	other := HomeLeadID("anon:absorbed")
	keep := HomeLeadID("anon:keep")
	recs := mustLoad(t, st, id, other, keep)
	mustWrite(t, st,
		Update{Base: recs[id], Data: []byte("10"), Offsets: map[string]int64{"web/2": 50}, Stage: "sql", Rank: 10, Deadline: 1000, Identities: []string{anon, email}},
		Update{Base: recs[other], Data: []byte("1"), Identities: []string{"anon:absorbed"}},
		Update{Base: recs[keep], Data: []byte("k"), Stage: "sql", Rank: 1, Deadline: 1000, Identities: []string{"anon:keep"}})
	stitch(t, st, other, id)
	mustWrite(t, st, Update{Base: mustGet(t, st, id), Data: []byte("11"), Stage: "sql", Rank: 11, Deadline: 1000})
	stale := mustGet(t, st, id)
	if top, _ := st.Top(ctx, "sql", 10); len(top) != 2 {
		t.Fatalf("board before erase: %v", top)
	}

	if err := st.Erase(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := st.Erase(ctx, id); err != nil {
		t.Fatalf("second erase: %v", err)
	}
	for _, gone := range []string{id, other} {
		if _, err := st.Get(ctx, gone); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get %s after erase: %v", gone, err)
		}
	}
	m, _ := st.Resolve(ctx, []string{anon, email, "anon:absorbed"})
	if m[email] != HomeLeadID(email) || m[anon] != id || m["anon:absorbed"] != other {
		t.Fatalf("resolve after erase %v: want home leads", m)
	}
	if top, _ := st.Top(ctx, "sql", 10); len(top) != 1 || top[0].LeadID != keep {
		t.Fatalf("board after erase: %v", top)
	}
	ts := claimAll(t, st, 5000, time.Minute)
	if len(ts) != 1 || ts[0].LeadID != keep {
		t.Fatalf("timers after erase: %v", ts)
	}
	// A writer still holding the erased record loses.
	res, err := st.Write(ctx, []Update{{Base: stale, Data: []byte("resurrect")}})
	if err != nil || !errors.Is(res[0].Err, ErrConflict) {
		t.Fatalf("stale write after erase: %v %v", err, res)
	}
	// New events for the same identity start from nothing.
	n := mustLoad(t, st, m[email])[m[email]]
	if n.Version != 0 || n.Data != nil {
		t.Fatalf("erased identity resolves to existing state: %+v", n)
	}
	mustWrite(t, st, applyEvents(n, []event{{"web", 2, 50, 3}}))
	if g := mustGet(t, st, m[email]); string(g.Data) != "3" || g.Offsets()["web/2"] != 50 {
		t.Fatalf("fresh lead %+v", g)
	}
	if err := st.Erase(ctx, "never-existed"); err != nil {
		t.Fatal(err)
	}
}

func testClaimDue(t *testing.T, st *Store) {
	ctx := tctx(t)
	const n = 120
	now := int64(1_760_000_000_000)
	ids := leadIDs(n, "timer")
	recs := mustLoad(t, st, ids...)
	var us []Update
	due := map[string]bool{}
	for i, id := range ids {
		d := now + 3_600_000 // not due
		if i%3 != 0 {
			d = now - int64(i)*1000 // due
			due[id] = true
		}
		us = append(us, Update{Base: recs[id], Data: []byte("x"), Deadline: d})
	}
	res := mustWrite(t, st, us...)

	// Two sweepers race over all shards with small limits.
	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for round := 0; round < 3; round++ {
				for k := 0; k < st.TimerShards(); k++ {
					sh := (k*7 + w*13 + round) % st.TimerShards()
					ts, err := st.ClaimDue(ctx, sh, now, time.Minute, 3)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for _, tm := range ts {
						claimed[tm.LeadID]++
						if tm.Shard != sh || st.TimerShard(tm.LeadID) != sh {
							t.Errorf("timer %v from shard %d", tm, sh)
						}
					}
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	// Drain what small limits left: every shard in one round trip.
	all := make([]int, st.TimerShards())
	for sh := range all {
		all[sh] = sh
	}
	var ts []Timer
	var err error
	if trips := hookOf(st).count(func() { ts, err = st.ClaimDueShards(ctx, all, now, time.Minute, 1000) }); trips != 1 {
		t.Errorf("ClaimDueShards over %d shards took %d round trips, want 1", len(all), trips)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range ts {
		claimed[tm.LeadID]++
		if st.TimerShard(tm.LeadID) != tm.Shard {
			t.Errorf("timer %v reported from shard %d, lives in %d", tm, tm.Shard, st.TimerShard(tm.LeadID))
		}
	}
	if _, err := st.ClaimDueShards(ctx, []int{0, st.TimerShards()}, now, time.Minute, 1); err == nil {
		t.Error("ClaimDueShards accepted a shard out of range")
	}
	for id := range due {
		if claimed[id] != 1 {
			t.Errorf("due timer %s claimed %d times", id, claimed[id])
		}
	}
	if len(claimed) != len(due) {
		t.Errorf("claimed %d timers, %d due", len(claimed), len(due))
	}
	// Nobody handled them: they come due again when the lease ends, once.
	if ts := claimAll(t, st, now+30_000, time.Minute); len(ts) != 0 {
		t.Fatalf("claimed during the lease: %d", len(ts))
	}
	again := claimAll(t, st, now+61_000, time.Minute)
	if len(again) != len(due) {
		t.Fatalf("after the lease: %d timers, want %d", len(again), len(due))
	}
	for _, tm := range again {
		if !due[tm.LeadID] || tm.Due != (now+60_000)/1000*1000 {
			t.Fatalf("re-due timer %+v", tm)
		}
	}
	// Handling a timer: a write with a new deadline re-arms it; 0 removes it.
	var fix []Update
	for i, id := range ids {
		if !due[id] {
			continue
		}
		d := int64(0)
		if i%2 == 0 {
			d = now + 200_000
		}
		fix = append(fix, Update{Base: res[i].Record, Data: []byte("y"), Deadline: d})
	}
	mustWrite(t, st, fix...)
	if ts := claimAll(t, st, now+190_000, time.Minute); len(ts) != 0 {
		t.Fatalf("re-armed timers fired early: %v", ts)
	}
	late := claimAll(t, st, now+200_000, time.Minute)
	for _, tm := range late {
		if tm.Due != now+200_000 {
			t.Fatalf("timer %+v", tm)
		}
	}
	wantLate := 0
	for i, id := range ids {
		if due[id] && i%2 == 0 {
			wantLate++
		}
	}
	if len(late) != wantLate {
		t.Fatalf("re-armed: %d fired, want %d", len(late), wantLate)
	}
	// Deadlines round up to the second: never early.
	id := ids[0]
	r := mustGet(t, st, id)
	mustWrite(t, st, Update{Base: r, Deadline: now + 1500})
	if ts, _ := st.ClaimDue(ctx, st.TimerShard(id), now+1999, time.Minute, 10); len(ts) != 0 {
		t.Fatalf("fired early: %v", ts)
	}
	if ts, _ := st.ClaimDue(ctx, st.TimerShard(id), now+2000, time.Minute, 10); len(ts) != 1 || ts[0].LeadID != id {
		t.Fatalf("not fired on time: %v", ts)
	}
	if _, err := st.ClaimDue(ctx, st.TimerShards(), now, time.Minute, 1); err == nil {
		t.Fatal("shard out of range accepted")
	}

	// A deadline moved later leaves the bucket's summary early: the sweep
	// finds nothing due there, repairs the summary, and fires on the new
	// deadline.
	id = ids[1]
	r = mustGet(t, st, id)
	mustWrite(t, st, Update{Base: r, Deadline: now + 500_000})
	r = mustGet(t, st, id)
	mustWrite(t, st, Update{Base: r, Deadline: now + 900_000})
	for _, tm := range claimAll(t, st, now+600_000, time.Hour) {
		if tm.LeadID == id {
			t.Fatalf("postponed deadline fired: %v", tm)
		}
	}
	rk := st.lay.recordKey(st.lay.bucket(id))
	if v, err := st.rdb.HGet(ctx, rk, timerField).Int64(); err == nil && v < (now+600_000)/1000 {
		t.Fatalf("summary not repaired: %d", v)
	}
	if ts, _ := st.ClaimDue(ctx, st.TimerShard(id), now+900_000, time.Minute, 100); !slices.ContainsFunc(ts, func(tm Timer) bool { return tm.LeadID == id }) {
		t.Fatalf("postponed deadline: %v", ts)
	}
}

func testTop(t *testing.T, st *Store) {
	ctx := tctx(t)
	ids := leadIDs(200, "top")
	recs := mustLoad(t, st, ids...)
	var us []Update
	shards := map[int]bool{}
	for i, id := range ids {
		shards[st.TimerShard(id)] = true
		us = append(us, Update{Base: recs[id], Data: []byte("x"), Stage: "mql", Rank: float64((i*7919)%1000) + 0.25})
	}
	res := mustWrite(t, st, us...)
	if len(shards) < 2 {
		t.Fatalf("leads in %d shards only", len(shards))
	}
	want := make([]Ranked, len(ids))
	for i, id := range ids {
		want[i] = Ranked{id, float64((i*7919)%1000) + 0.25}
	}
	sort.Slice(want, func(a, b int) bool { return want[a].Rank > want[b].Rank })
	top, err := st.Top(ctx, "mql", 15)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(top, want[:15]) {
		t.Fatalf("top:\n got %v\nwant %v", top, want[:15])
	}
	// The best lead moves on to sql; the board follows.
	best := slices.Index(ids, want[0].LeadID)
	mustWrite(t, st, Update{Base: res[best].Record, Stage: "sql", Rank: 1})
	top, _ = st.Top(ctx, "mql", 14)
	if !slices.Equal(top, want[1:15]) {
		t.Fatalf("after promotion:\n got %v\nwant %v", top, want[1:15])
	}
	if s, _ := st.Top(ctx, "sql", 5); len(s) != 1 || s[0].LeadID != want[0].LeadID {
		t.Fatalf("sql board %v", s)
	}
	// Ties order by lead id, descending; the full board has every lead.
	all, _ := st.Top(ctx, "mql", 1000)
	if len(all) != len(ids)-1 {
		t.Fatalf("board size %d", len(all))
	}
	if top, _ := st.Top(ctx, "unknown-stage", 5); len(top) != 0 {
		t.Fatalf("unknown stage: %v", top)
	}
	// Ranks that drop (and leads that leave) leave the bucket summaries
	// loose; Top stays exact.
	second := slices.Index(ids, want[1].LeadID)
	third := slices.Index(ids, want[2].LeadID)
	cur := mustLoad(t, st, ids[second], ids[third])
	mustWrite(t, st, Update{Base: cur[ids[second]], Stage: "mql", Rank: -5}, Update{Base: cur[ids[third]]})
	top, _ = st.Top(ctx, "mql", 3)
	if !slices.Equal(top, want[3:6]) {
		t.Fatalf("after rank drop:\n got %v\nwant %v", top, want[3:6])
	}
	all, _ = st.Top(ctx, "mql", 1000)
	if len(all) != len(ids)-2 || all[len(all)-1] != (Ranked{ids[second], -5}) {
		t.Fatalf("board after rank drop: %d entries, last %v", len(all), all[len(all)-1])
	}
	// Equal ranks: ties by lead id, descending.
	tie := leadIDs(3, "tie")
	trecs := mustLoad(t, st, tie...)
	for _, id := range tie {
		mustWrite(t, st, Update{Base: trecs[id], Stage: "tied", Rank: 1})
	}
	top, _ = st.Top(ctx, "tied", 2)
	sorted := slices.Clone(tie)
	slices.Sort(sorted)
	if len(top) != 2 || top[0].LeadID != sorted[2] || top[1].LeadID != sorted[1] {
		t.Fatalf("ties: %v, ids %v", top, sorted)
	}
}

func testSecondProcess(t *testing.T, st *Store) {
	// Names registered by one process are decoded by another that never saw
	// them (its dictionary is refreshed on demand).
	id := HomeLeadID("user:second")
	rec := mustLoad(t, st, id)[id]
	mustWrite(t, st, Update{Base: rec, Offsets: map[string]int64{"brand-new-topic/9": 1}, Stage: "brand-new-stage", Rank: 1})
	st.mu.Lock()
	st.ids, st.names = map[dictName]uint64{}, map[dictID]string{}
	st.mu.Unlock()
	g := mustGet(t, st, id)
	if g.Stage != "brand-new-stage" || g.Offsets()["brand-new-topic/9"] != 1 {
		t.Fatalf("decoded %+v", g)
	}
	if !g.Applied("brand-new-topic", 9, 1) || g.Applied("brand-new-topic", 9, 2) || g.Applied("brand-new-topic", 8, 1) {
		t.Fatalf("Applied after a dictionary refresh: %v", g.Offsets())
	}
	// Layout is checked: another bucket count on the same prefix is refused.
	st.mu.Lock()
	st.ids, st.names = map[dictName]uint64{}, map[dictID]string{}
	st.mu.Unlock()
	if top, err := st.Top(tctx(t), "brand-new-stage", 3); err != nil || len(top) != 1 {
		t.Fatalf("top after dictionary reset: %v %v", top, err)
	}
}

// testSeveralBoards: a lead on several leaderboards at once (one per scoring
// model) is found on each, with its own rank; a rewrite moves it on every
// board, and a record without boards decodes without them.
func testSeveralBoards(t *testing.T, st *Store) {
	ctx := tctx(t)
	ids := leadIDs(3, "boards")
	var ups []Update
	for i, id := range ids {
		base := mustLoad(t, st, id)[id]
		ups = append(ups, Update{Base: base, Data: []byte("d"), Stage: "mql", Rank: float64(10 + i),
			Boards: []Board{{Stage: "shop/lead", Rank: float64(-i)}, {Stage: "saas/sql", Rank: float64(30 - i)}}})
	}
	mustWrite(t, st, ups...)
	for _, tc := range []struct {
		board string
		want  []string
		rank  float64
	}{
		{"mql", []string{ids[2], ids[1], ids[0]}, 12},
		{"shop/lead", []string{ids[0], ids[1], ids[2]}, 0},
		{"saas/sql", []string{ids[0], ids[1], ids[2]}, 30},
	} {
		top, err := st.Top(ctx, tc.board, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(top) != 3 || top[0].Rank != tc.rank {
			t.Fatalf("%s: %+v", tc.board, top)
		}
		for i, r := range top {
			if r.LeadID != tc.want[i] {
				t.Fatalf("%s: %+v, want order %v", tc.board, top, tc.want)
			}
		}
	}
	got := mustGet(t, st, ids[1])
	if got.Stage != "mql" || len(got.Boards) != 2 || got.Boards[0] != (Board{"shop/lead", -1}) || got.Boards[1] != (Board{"saas/sql", 29}) {
		t.Fatalf("record boards: %q %+v", got.Stage, got.Boards)
	}
	// The second lead leaves saas/sql for saas/opportunity; the others stay.
	mustWrite(t, st, Update{Base: got, Data: []byte("d2"), Stage: "mql", Rank: 11,
		Boards: []Board{{Stage: "shop/lead", Rank: -1}, {Stage: "saas/opportunity", Rank: 5}}})
	if top, _ := st.Top(ctx, "saas/sql", 10); len(top) != 2 || slices.ContainsFunc(top, func(r Ranked) bool { return r.LeadID == ids[1] }) {
		t.Fatalf("saas/sql after the move: %+v", top)
	}
	if top, _ := st.Top(ctx, "saas/opportunity", 10); len(top) != 1 || top[0].LeadID != ids[1] || top[0].Rank != 5 {
		t.Fatalf("saas/opportunity: %+v", top)
	}
	// Boards given twice are refused before anything is written.
	if _, err := st.Write(ctx, []Update{{Base: mustGet(t, st, ids[0]), Stage: "mql", Boards: []Board{{Stage: "mql"}}}}); err == nil {
		t.Fatal("a board given twice was accepted")
	}
	// A write without boards takes the lead off them.
	mustWrite(t, st, Update{Base: mustGet(t, st, ids[1]), Data: []byte("d3"), Stage: "mql", Rank: 11})
	if got := mustGet(t, st, ids[1]); len(got.Boards) != 0 {
		t.Fatalf("boards kept: %+v", got.Boards)
	}
	if top, _ := st.Top(ctx, "saas/opportunity", 10); len(top) != 0 {
		t.Fatalf("saas/opportunity after leaving it: %+v", top)
	}
}

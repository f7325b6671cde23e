package processor

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"

	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/internal/teststore"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

// idTable names "far" by id 99, past any dictionary the test fills.
type idTable struct{}

func (idTable) NameID(n string) (uint64, bool) { return 99, n == "far" }
func (idTable) Name(id uint64) (string, bool)  { return "far", id == 99 }

// knowNames brings the process's copy of the name dictionary up to the
// ids the loaded records name (one round trip), before any is decoded: a
// record another process wrote with names this one never saw decodes; one
// naming an id the dictionary does not hold fails the batch instead of
// being started over as corrupt.
func TestKnowNamesCatchesUp(t *testing.T) {
	ctx := context.Background()
	// Two processes' stores on one prefix, both opened before any name is
	// in the dictionary.
	o := state.Options{Addrs: []string{miniredis.RunT(t).Addr()}, KeyPrefix: "names", Buckets: 64, TimerShards: 4}
	open := func() *state.Store {
		s, err := state.New(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	writer, reader := open(), open()
	d, err := writer.EnsureNames(ctx, []string{"mql", "pricing_page", "b2b-1"})
	if err != nil {
		t.Fatal(err)
	}
	st := scoring.State{Stage: "mql", Model: "b2b-1", Contribs: []scoring.Contribution{{Rule: "pricing_page", Points: 3}}}
	data, _ := st.AppendBinaryNames(nil, d)
	far, _ := (&scoring.State{Stage: "far"}).AppendBinaryNames(nil, idTable{})

	cases := []struct {
		name    string
		recs    map[string]state.Record
		wantLen uint64
		wantErr string
	}{
		{"no names", map[string]state.Record{"a": {}, "b": {Data: []byte{3, 0, 0}}}, 0, ""},
		{"names another process added", map[string]state.Record{"a": {}, "b": {Data: data}}, 3, ""},
		{"an id past the dictionary", map[string]state.Record{"c": {Data: far}}, 3, "lead c names id 99, the name dictionary holds 3"},
	}
	b := &batch{p: &Processor{store: reader, cfg: Config{Observer: nopObserver{}}}}
	for _, c := range cases {
		err := b.knowNames(ctx, c.recs)
		if (err == nil) != (c.wantErr == "") || err != nil && !strings.Contains(err.Error(), c.wantErr) {
			t.Fatalf("%s: err %v, want %q", c.name, err, c.wantErr)
		}
		if got := reader.Names().Len(); got != c.wantLen {
			t.Fatalf("%s: the copy holds %d names, want %d", c.name, got, c.wantLen)
		}
	}
}

// A lead record written before the name dictionary (format 3, every name
// in the record) decodes as one written with it.
func TestDecodeStateEitherFormat(t *testing.T) {
	ctx := context.Background()
	store, _ := teststore.Open(t, state.Options{Buckets: 64, TimerShards: 4})
	eng := testrules.Load(t, "../examples/rules/b2b-saas.yaml")
	st := eng.NewState()
	ev := scoring.Event{ID: "e1", Source: scoring.SourceWeb, Kind: "track", Name: "Demo Requested", Time: 1_700_000_000_000,
		Identity: scoring.Identity{UserID: "u1"}}
	eng.Apply(&st, &ev)
	st.Pending = 0
	old, _ := st.MarshalBinary()
	d, err := store.EnsureNames(ctx, []string{st.Stage, st.Model})
	if err != nil {
		t.Fatal(err)
	}
	named, _ := st.AppendBinaryNames(nil, d)
	if old[0] != 3 || named[0] != 4 {
		t.Fatalf("formats %d and %d, want 3 and 4", old[0], named[0])
	}
	b := &batch{p: &Processor{store: store, cfg: Config{Observer: nopObserver{}}}, set: scoring.SingleSet(eng)}
	for _, data := range [][]byte{old, named} {
		l, err := b.decodeState(state.Record{LeadID: "user:u1", Version: 1, Data: data})
		if err != nil {
			t.Fatalf("format %d: %v", data[0], err)
		}
		if !reflect.DeepEqual(l.States[0], st) {
			t.Fatalf("format %d decodes to\n%+v\nwant\n%+v", data[0], l.States[0], st)
		}
	}
}

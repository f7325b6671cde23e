package processor

import (
	"context"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"

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

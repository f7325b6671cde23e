package state

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// sibling is another process's store on st's server and prefix: its own
// copy of the dictionaries, loaded as New loads them, over st's client.
func sibling(t *testing.T, st *Store) *Store {
	t.Helper()
	s := &Store{rdb: st.rdb, cluster: st.cluster, lay: st.lay, scale: st.scale,
		ids: map[dictName]uint64{}, names: map[dictID]string{}, fields: map[uint64]string{}, srcs: map[uint64]string{}}
	s.nameDict.Store(&NameDict{ids: map[string]uint64{}})
	if err := s.init(tctx(t)); err != nil {
		t.Fatal(err)
	}
	return s
}

// testNames: the name dictionary gives each name one id, in one round trip
// for the names it lacks and none when it has them all; two processes
// adding names at once agree on every id; a process finds the ids another
// added with NamesUpTo, and a new one loads them at start.
func testNames(t *testing.T, st *Store) {
	ctx := tctx(t)
	h := hookOf(st)
	long := strings.Repeat("x", maxNameLen+1)
	cases := []struct {
		name   string
		add    []string
		trips  int64
		newLen uint64
	}{
		{"first names", []string{"mql", "pricing_page", "mql", "b2b-saas-2026.11"}, 1, 3},
		{"all known", []string{"pricing_page", "mql"}, 0, 3},
		{"none", nil, 0, 3},
		{"empty and too long are not added", []string{"", long}, 0, 3},
		{"one new among known", []string{"mql", "demo_request"}, 1, 4},
	}
	for _, c := range cases {
		var d *NameDict
		var err error
		if n := h.count(func() { d, err = st.EnsureNames(ctx, c.add) }); err != nil || n != c.trips {
			t.Fatalf("%s: %d round trips, err %v; want %d", c.name, n, err, c.trips)
		}
		if d.Len() != c.newLen || d != st.Names() {
			t.Fatalf("%s: Len %d, want %d (or not the current copy)", c.name, d.Len(), c.newLen)
		}
		for _, n := range c.add {
			id, ok := d.NameID(n)
			if n == "" || n == long {
				if ok {
					t.Fatalf("%s: %q was added", c.name, n)
				}
				continue
			}
			if back, _ := d.Name(id); !ok || back != n {
				t.Fatalf("%s: %q has id %d (%v), which names %q", c.name, n, id, ok, back)
			}
		}
	}
	if id, _ := st.Names().NameID("mql"); id != 1 {
		t.Fatalf("the first name has id %d, want 1", id)
	}

	// Two processes add overlapping names at once: one id each, the same
	// for both, ids 1..n without gaps.
	other := sibling(t, st)
	if other.Names().Len() != 4 {
		t.Fatalf("a new process starts with %d names, want 4", other.Names().Len())
	}
	var wg sync.WaitGroup
	for g := range 8 {
		s := st
		if g%2 == 1 {
			s = other
		}
		wg.Go(func() {
			var ns []string
			for i := range 30 {
				ns = append(ns, fmt.Sprintf("rule_%d", (g*7+i)%60))
			}
			if _, err := s.EnsureNames(ctx, ns); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	a, err := st.NamesUpTo(ctx, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	b, err := other.NamesUpTo(ctx, 1<<40) // past the last id: the whole dictionary, short of it
	if err != nil {
		t.Fatal(err)
	}
	if a.Len() != 4+60 || b.Len() != a.Len() {
		t.Fatalf("dictionaries hold %d and %d names, want %d", a.Len(), b.Len(), 4+60)
	}
	seen := map[string]bool{}
	for id := uint64(1); id <= a.Len(); id++ {
		na, _ := a.Name(id)
		nb, _ := b.Name(id)
		if na != nb || seen[na] {
			t.Fatalf("id %d names %q and %q (seen before: %v)", id, na, nb, seen[na])
		}
		seen[na] = true
		if back, _ := b.NameID(na); back != id {
			t.Fatalf("%q: id %d, then %d", na, id, back)
		}
	}

	// A name one process adds, the other finds with one round trip, and
	// then with none.
	d, err := st.EnsureNames(ctx, []string{"sql"})
	if err != nil {
		t.Fatal(err)
	}
	sqlID, _ := d.NameID("sql")
	if _, ok := other.Names().Name(sqlID); ok {
		t.Fatal("the other process knows the new name without reading it")
	}
	for want := int64(1); want >= 0; want-- {
		var got *NameDict
		if n := h.count(func() { got, err = other.NamesUpTo(ctx, sqlID) }); err != nil || n != want {
			t.Fatalf("NamesUpTo: %d round trips, err %v; want %d", n, err, want)
		}
		if n, _ := got.Name(sqlID); n != "sql" {
			t.Fatalf("id %d names %q in the other process", sqlID, n)
		}
	}
}

package teststore_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"

	"github.com/leadscore/leadscore/internal/teststore"
	"github.com/leadscore/leadscore/state"
)

// prefixOf writes a lead through st and returns the one key prefix the
// server mr holds.
func prefixOf(t *testing.T, st *state.Store, mr *miniredis.Miniredis) string {
	t.Helper()
	ctx := context.Background()
	id := state.HomeLeadID("anon:a")
	recs, err := st.Load(ctx, []string{id})
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Write(ctx, []state.Update{{Base: recs[id], Data: []byte("1"), Stage: "lead", Rank: 1, Deadline: 1000}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("write: %v %v", err, res[0].Err)
	}
	prefixes := map[string]bool{}
	for _, k := range mr.Keys() {
		prefixes[strings.SplitN(k, ":", 2)[0]] = true
	}
	if len(prefixes) != 1 {
		t.Fatalf("keys under %d prefixes: %v", len(prefixes), mr.Keys())
	}
	for p := range prefixes {
		return p
	}
	return ""
}

// Stores opened with the same options write under prefixes of their own that
// start with the one asked for.
func TestPrefixesAreUnique(t *testing.T) {
	o := state.Options{KeyPrefix: "tsx", TimerShards: 2, Buckets: 8}
	a, amr := teststore.Mini(t, o)
	b, bmr := teststore.Mini(t, o)
	pa, pb := prefixOf(t, a, amr), prefixOf(t, b, bmr)
	if !strings.HasPrefix(pa, "tsx") || !strings.HasPrefix(pb, "tsx") || pa == pb {
		t.Fatalf("prefixes %q and %q", pa, pb)
	}
}

// Open uses miniredis without LEADSCORE_REDIS_ADDR, the real server with it.
func TestOpen(t *testing.T) {
	if os.Getenv("LEADSCORE_REDIS_ADDR") != "" {
		if _, mr := teststore.Open(t, state.Options{}); mr != nil {
			t.Fatal("a miniredis despite LEADSCORE_REDIS_ADDR")
		}
	}
	t.Setenv("LEADSCORE_REDIS_ADDR", "")
	st, mr := teststore.Open(t, state.Options{})
	if mr == nil {
		t.Fatal("no miniredis without LEADSCORE_REDIS_ADDR")
	}
	if p := prefixOf(t, st, mr); !strings.HasPrefix(p, "lst") {
		t.Fatalf("default prefix %q", p)
	}
}

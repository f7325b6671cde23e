package state

import (
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

func miniOptions(t *testing.T, mr *miniredis.Miniredis) Options {
	return Options{Addrs: []string{mr.Addr()}, KeyPrefix: uniquePrefix(t), Buckets: 256, TimerShards: 16}
}

func newMiniStore(t *testing.T, mr *miniredis.Miniredis) *Store {
	t.Helper()
	st, err := New(tctx(t), miniOptions(t, mr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return withHook(st)
}

func TestStoreMiniredis(t *testing.T) {
	mr := miniredis.RunT(t)
	runStoreSuite(t, func(t *testing.T) *Store { return newMiniStore(t, mr) })
}

// TestUnavailableMiniredis: with the server down, Write reports a retryable
// error and nothing is written; after the restart, the store works again.
func TestUnavailableMiniredis(t *testing.T) {
	mr := miniredis.RunT(t)
	o := miniOptions(t, mr)
	o.ReadTimeout, o.DialTimeout = 300*time.Millisecond, 300*time.Millisecond
	st, err := New(tctx(t), o)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids := leadIDs(20, "down")
	recs := mustLoad(t, st, ids...)
	var us []Update
	for _, id := range ids {
		us = append(us, Update{Base: recs[id], Data: []byte("1"), Stage: "mql", Rank: 1, Deadline: 1000})
	}
	res := mustWrite(t, st, us...)

	mr.Close()
	for i := range us {
		us[i] = Update{Base: res[i].Record, Data: []byte("2"), Stage: "sql", Rank: 2, Deadline: 9000}
	}
	checkDown := func(what string, err error) {
		t.Helper()
		if err == nil || !IsRetryable(err) || !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%s with the server down: %v, want a retryable error", what, err)
		}
	}
	for attempt := 0; attempt < 2; attempt++ { // pooled connection, then a fresh dial
		wres, err := st.Write(tctx(t), us)
		if err != nil {
			checkDown("Write", err)
			if wres != nil {
				t.Fatal("results with a batch error")
			}
		} else {
			for _, r := range wres {
				checkDown("Write result", r.Err)
			}
		}
	}
	_, err = st.Load(tctx(t), ids)
	checkDown("Load", err)
	_, err = st.Resolve(tctx(t), []string{"anon:x"})
	checkDown("Resolve", err)
	_, err = st.ClaimDue(tctx(t), 0, 1, time.Second, 1)
	checkDown("ClaimDue", err)
	_, err = st.Top(tctx(t), "mql", 1)
	checkDown("Top", err)
	checkDown("Ping", st.Ping(tctx(t)))
	checkDown("Erase", st.Erase(tctx(t), ids[0]))
	_, err = New(tctx(t), o)
	checkDown("New", err)

	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(tctx(t)); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	got := mustLoad(t, st, ids...)
	for i, id := range ids {
		if got[id].Version != res[i].Version || string(got[id].Data) != "1" || got[id].Stage != "mql" {
			t.Fatalf("lead %s changed by a failed write: %+v", id, got[id])
		}
	}
	if top, _ := st.Top(tctx(t), "sql", 5); len(top) != 0 {
		t.Fatalf("failed write reached the board: %v", top)
	}
	if ts := claimAll(t, st, 5000, time.Minute); len(ts) != len(ids) {
		t.Fatalf("timers after a failed write: %d, want %d", len(ts), len(ids))
	}
	// The caller's retry: reload, re-apply, write.
	for i, id := range ids {
		us[i].Base = got[id]
	}
	mustWrite(t, st, us...)
	if st.Close() != nil {
		t.Fatal("close")
	}
	_, err = st.Load(tctx(t), ids)
	if err == nil || IsRetryable(err) {
		t.Fatalf("closed store: %v, want a non-retryable error", err)
	}
}

func TestACLMiniredis(t *testing.T) {
	mr := miniredis.RunT(t)
	mr.RequireUserAuth("scorer", "s3cret")
	o := miniOptions(t, mr)
	if _, err := New(tctx(t), o); err == nil || IsRetryable(err) {
		t.Fatalf("no credentials: %v, want a non-retryable auth error", err)
	}
	o.Username, o.Password = "scorer", "wrong"
	if _, err := New(tctx(t), o); err == nil {
		t.Fatal("wrong password accepted")
	}
	o.Password = "s3cret"
	st, err := New(tctx(t), o)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id := HomeLeadID("anon:acl")
	mustWrite(t, st, Update{Base: mustLoad(t, st, id)[id], Data: []byte("ok")})
	if g := mustGet(t, st, id); string(g.Data) != "ok" {
		t.Fatal(g)
	}
}

func TestLayoutMismatch(t *testing.T) {
	mr := miniredis.RunT(t)
	o := miniOptions(t, mr)
	st, err := New(tctx(t), o)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	o.Buckets *= 2
	if _, err := New(tctx(t), o); err == nil || IsRetryable(err) {
		t.Fatalf("other layout on the same prefix: %v", err)
	}
}

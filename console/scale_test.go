package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore/api"
	"github.com/leadscore/leadscore/internal/journeys"
	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/scoring"
	"github.com/leadscore/leadscore/state"
)

// TestPageLoadAtScale measures what each console page loads, at a population
// of LEADSCORE_CONSOLE_SCALE_LEADS leads in the real Redis at
// LEADSCORE_REDIS_ADDR (a disposable server: the test writes under its own
// key prefix and deletes nothing), and the feed's memory for as many leads
// that changed stage. It is a measurement, not part of CI:
//
//	LEADSCORE_REDIS_ADDR=127.0.0.1:6391 LEADSCORE_CONSOLE_SCALE_LEADS=1000000 \
//	    go test ./console -run TestPageLoadAtScale -v -timeout 20m
func TestPageLoadAtScale(t *testing.T) {
	addr, n := os.Getenv("LEADSCORE_REDIS_ADDR"), os.Getenv("LEADSCORE_CONSOLE_SCALE_LEADS")
	if addr == "" || n == "" {
		t.Skip("set LEADSCORE_REDIS_ADDR and LEADSCORE_CONSOLE_SCALE_LEADS to measure the console at scale")
	}
	leads, err := strconv.Atoi(n)
	if err != nil || leads < 1000 {
		t.Fatalf("LEADSCORE_CONSOLE_SCALE_LEADS=%q: want a number ≥ 1000", n)
	}
	ctx := context.Background()
	store, err := state.New(ctx, state.Options{Addrs: []string{addr}, KeyPrefix: "consolescale" + strconv.FormatInt(time.Now().Unix(), 36)})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	eng := testrules.Parse(t, journeys.B2BRulesFile, journeys.B2BRules())
	st := scoredLead(t, eng)
	stageOf := func(i int) string {
		switch {
		case i%20 == 0:
			return "sql"
		case i%10 == 0:
			return "mql"
		case i%20 == 1:
			return "sal"
		default:
			return "lead"
		}
	}
	datas := map[string][]byte{}
	for _, s := range []string{"lead", "mql", "sql", "sal"} {
		x := st
		x.Stage = s
		datas[s], _ = x.MarshalBinary()
	}
	rank := eng.Rank(&st)
	id := func(i int) string { return fmt.Sprintf("user:scale-%07d", i) }

	start := time.Now()
	const batch, writers = 1000, 4
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := w * batch; lo < leads; lo += writers * batch {
				var ups []state.Update
				for i := lo; i < min(lo+batch, leads); i++ {
					s := stageOf(i)
					ups = append(ups, state.Update{Base: state.Record{LeadID: id(i)}, Data: datas[s],
						Offsets: map[string]int64{"web/" + strconv.Itoa(i%12): int64(i)}, Stage: s,
						Rank: rank - float64(i%100000)/1e4, Deadline: time.Now().Add(90 * 24 * time.Hour).UnixMilli()})
				}
				if _, err := store.Write(ctx, ups); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d leads in %s", leads, time.Since(start).Round(time.Millisecond))

	// The feed, as if every lead had changed stage once or twice.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	feed := NewFeed()
	stages := Stages{Order: slices.Collect(func(yield func(string) bool) {
		for _, s := range eng.Model().Stages {
			if !yield(s.Name) {
				return
			}
		}
	}), MQL: "mql", SQL: "sql"}
	now := time.UnixMilli(t0 + 30*day)
	start = time.Now()
	for i := range leads {
		at := t0 + int64(i%(30*24))*3_600_000
		feed.StageChange(output.StageChange{ID: strconv.Itoa(i), LeadID: id(i), From: "visitor", To: "lead", EventTime: output.FormatTime(at), ModelVersion: "m"}, 0, stages)
		if s := stageOf(i); s != "lead" {
			feed.StageChange(output.StageChange{ID: strconv.Itoa(i) + "b", LeadID: id(i), From: "lead", To: s, EventTime: output.FormatTime(at + 1000), ModelVersion: "m"}, 0, stages)
		}
	}
	feedTook := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("feed: %d leads applied in %s; heap %.0f MB (%.0f B per lead)", leads, feedTook.Round(time.Millisecond),
		float64(after.HeapAlloc-before.HeapAlloc)/1e6, float64(after.HeapAlloc-before.HeapAlloc)/float64(leads))

	a, err := api.New(api.Config{Store: store, Models: func() *scoring.Set { return scoring.SingleSet(eng) }, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{API: a, Feed: feed})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	defer srv.Close()
	get := func(path string) time.Duration {
		t.Helper()
		s := time.Now()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return time.Since(s)
	}
	// A page loads its HTML, script and stylesheet, the session, then its data.
	page := func(data ...string) time.Duration {
		var d time.Duration
		for _, p := range append([]string{"/console/", "/console/assets/app.js", "/console/assets/app.css", "/console/api/session"}, data...) {
			d += get(p)
		}
		return d
	}
	cold := page("/console/api/leaders?stage=sql&limit=50")
	for _, tc := range []struct{ name, path string }{
		{"funnel", "/console/api/funnel?days=30"},
		{"leaderboard (cached ranking)", "/console/api/leaders?stage=sql&limit=50"},
		{"lead", "/console/api/lead?id=" + id(leads/2)},
		{"health", "/console/api/health"},
		{"rules", "/console/api/rules"},
	} {
		var ds []time.Duration
		for range 5 {
			ds = append(ds, page(tc.path))
		}
		slices.Sort(ds)
		t.Logf("%-30s median %6.1f ms, max %6.1f ms", tc.name, float64(ds[2])/1e6, float64(ds[4])/1e6)
	}
	t.Logf("%-30s        %6.1f ms (the first ranking read of the stage, uncached)", "leaderboard (cold)", float64(cold)/1e6)
	var ds []time.Duration
	for range 3 {
		time.Sleep(api.DefaultTopCacheTTL + 100*time.Millisecond)
		ds = append(ds, page("/console/api/leaders?stage=sql&limit=50"))
	}
	slices.Sort(ds)
	t.Logf("%-30s median %6.1f ms, max %6.1f ms (the cached ranking expired: Top runs again)", "leaderboard (expired cache)", float64(ds[1])/1e6, float64(ds[2])/1e6)
}

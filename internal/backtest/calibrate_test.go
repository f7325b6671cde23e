package backtest_test

import (
	"bufio"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/backtest"
	"github.com/leadscore/leadscore/internal/backtest/synth"
	"github.com/leadscore/leadscore/rules"
)

// stream writes a synthetic history into a pipe, so a large one is never held in
// memory.
func stream(t testing.TB, cfg synth.Config) io.Reader {
	t.Helper()
	g, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 1<<16)
		for {
			r, ok := g.Next()
			if !ok {
				break
			}
			w.Write(r.Value)
			w.WriteByte('\n')
		}
		pw.CloseWithError(w.Flush())
	}()
	t.Cleanup(func() { pr.Close() })
	return pr
}

// spearman is the rank correlation of x and y (average ranks for ties).
func spearman(x, y []float64) float64 {
	rx, ry := ranks(x), ranks(y)
	var mx, my float64
	for i := range rx {
		mx += rx[i] / float64(len(rx))
		my += ry[i] / float64(len(ry))
	}
	var sxy, sxx, syy float64
	for i := range rx {
		sxy += (rx[i] - mx) * (ry[i] - my)
		sxx += (rx[i] - mx) * (rx[i] - mx)
		syy += (ry[i] - my) * (ry[i] - my)
	}
	return sxy / math.Sqrt(sxx*syy)
}

func ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	r := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && v[idx[j]] == v[idx[i]] {
			j++
		}
		for k := i; k < j; k++ {
			r[idx[k]] = float64(i+j-1)/2 + 1
		}
		i = j
	}
	return r
}

// recovery calibrates a synthetic history of n leads from the flat base rules and
// returns the Spearman correlations of the true weights with the fitted
// coefficients and with the suggested points.
func recovery(t *testing.T, n int) (coef, points float64) {
	cfg := synth.Config{Seed: 42, Leads: n}
	outs, err := synth.Outcomes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := backtest.Calibrate(backtest.CalibrateConfig{Rules: synth.Rules(cfg), RulesName: "synth.yaml", Outcomes: outs},
		stream(t, cfg), backtest.LogOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	truth := cfg.Weights()
	var w, c, p []float64
	for _, f := range rep.Features {
		tw, ok := truth[f.Name]
		if !ok {
			continue // demo_request: the outcome itself, never fitted
		}
		if !f.Fitted {
			t.Errorf("action %s was not fitted (%d leads)", f.Name, f.Leads)
		}
		w, c, p = append(w, tw), append(c, f.Coef), append(p, f.Suggested)
		t.Logf("%-13s true %+.2f  coef %+.3f ±%.3f  points %v", f.Name, tw, f.Coef, f.StdErr, f.Suggested)
	}
	coef, points = spearman(w, c), spearman(w, p)
	t.Logf("%d leads, %d events, %d positive, in %s: Spearman %.3f (coefficients), %.3f (points)",
		n, rep.Log.Events, rep.Positives, time.Since(start).Round(time.Millisecond), coef, points)
	if rep.Late != 0 || rep.Unmatched != 0 {
		t.Errorf("%d late and %d unmatched outcomes, want none", rep.Late, rep.Unmatched)
	}
	if _, err := rules.Parse("proposed.yaml", []byte(rep.Proposed)); err != nil {
		t.Errorf("the proposed rules do not load: %v", err)
	}
	return coef, points
}

// TestCalibrateRecoversTrueOrder: on a history whose conversions follow known
// per-action weights, the suggested points rank the actions as the truth does.
// 12 000 leads by default (about 0.2 M events; 5 000 under the race detector); the
// issue's 100 000 leads with LEADSCORE_SLOW=1.
func TestCalibrateRecoversTrueOrder(t *testing.T) {
	n := 12000
	if raceEnabled {
		n = 5000
	}
	coef, points := recovery(t, n)
	if coef < 0.9 || points < 0.85 {
		t.Errorf("Spearman %.3f (coefficients) and %.3f (points) on %d leads, want ≥ 0.9 and ≥ 0.85", coef, points, n)
	}
}

func TestCalibrateRecoversTrueOrder100k(t *testing.T) {
	if os.Getenv("LEADSCORE_SLOW") == "" {
		t.Skip("slow (100 000 leads, 1.65 M events, 15 s or more): set LEADSCORE_SLOW=1 to run it")
	}
	coef, points := recovery(t, 100000)
	if coef < 0.8 || points < 0.8 {
		t.Errorf("Spearman %.3f (coefficients) and %.3f (points) on 100 000 leads, want ≥ 0.8", coef, points)
	}
}

// TestCalibrateEventKinds: without a rules file, each kind of event is a feature;
// the strongest true action comes out on top and the proposed file loads.
func TestCalibrateEventKinds(t *testing.T) {
	cfg := synth.Config{Seed: 5, Leads: 4000}
	outs, err := synth.Outcomes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := backtest.Calibrate(backtest.CalibrateConfig{Outcomes: outs}, stream(t, cfg), backtest.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Basis != "event kinds" || rep.Features[0].Name != "track:Video Playback Completed" {
		t.Errorf("basis %q, top feature %q; want event kinds led by the demo video", rep.Basis, rep.Features[0].Name)
	}
	last := rep.Features[len(rep.Features)-1]
	for _, f := range rep.Features {
		if f.Fitted {
			last = f
		}
	}
	if last.Name != "email:unsubscribe" || last.Suggested >= 0 {
		t.Errorf("lowest fitted feature %s (%v points), want email:unsubscribe with negative points", last.Name, last.Suggested)
	}
	m, err := rules.Parse("proposed.yaml", []byte(rep.Proposed))
	if err != nil {
		t.Fatalf("the proposed rules do not load: %v\n%s", err, rep.Proposed)
	}
	if m.RuleIndex("track_video_playback_completed") < 0 || m.StageIndex("mql") < 0 {
		t.Errorf("proposed rules lack the demo video rule or the mql stage:\n%s", rep.Proposed)
	}
	if !strings.HasPrefix(rep.Diff, "--- /dev/null\n+++ proposed-rules.yaml\n@@ -0,0 +1,") {
		t.Errorf("diff from nothing starts %q", rep.Diff[:min(len(rep.Diff), 80)])
	}
}

// TestCalibrateProposalChangesOnlyPoints: the proposed file is the base file with
// points (and the version, and points caps) changed, every comment kept.
func TestCalibrateProposalChangesOnlyPoints(t *testing.T) {
	src, err := os.ReadFile("testdata/rules-a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	of, err := os.Open("testdata/outcomes.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	outs, err := backtest.ReadOutcomes(of)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := backtest.Calibrate(backtest.CalibrateConfig{Rules: src, RulesName: "rules-a.yaml", Outcomes: outs, MinLeads: 5},
		history(t), backtest.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := strings.Split(string(src), "\n"), strings.Split(rep.Proposed, "\n")
	if len(a) != len(b) {
		t.Fatalf("the proposed file has %d lines, the base %d", len(b), len(a))
	}
	changed := 0
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		changed++
		if !strings.Contains(a[i], "points:") && !strings.HasPrefix(a[i], "version:") {
			t.Errorf("line %d changed but holds no points or version:\n-%s\n+%s", i+1, a[i], b[i])
		}
		// A comment may only have its numbers restated (or go, with a sign change).
		if ca, cb := comment(a[i]), comment(b[i]); ca != cb && !(strings.ContainsAny(ca, "0123456789") && (cb == "" || noDigits(ca) == noDigits(cb))) {
			t.Errorf("line %d lost its comment %q (now %q)", i+1, ca, cb)
		}
	}
	if added := strings.Count(rep.Diff, "\n+") - 1; changed == 0 || added != changed { // "+++ " aside
		t.Errorf("%d lines changed, the diff adds %d", changed, added)
	}
	if _, err := rules.Parse("proposed.yaml", []byte(rep.Proposed)); err != nil {
		t.Errorf("the proposed rules do not load: %v", err)
	}
}

func noDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r == '.' || r == '-' {
			return -1
		}
		return r
	}, s)
}

func comment(line string) string {
	if i := strings.Index(line, "#"); i >= 0 {
		return line[i:]
	}
	return ""
}

func TestCalibrateNeedsBothClasses(t *testing.T) {
	_, err := backtest.Calibrate(backtest.CalibrateConfig{}, strings.NewReader(page("x", "a", "u", 0)), backtest.LogOptions{})
	if err == nil || !strings.Contains(err.Error(), "both converting and non-converting") {
		t.Errorf("error %v, want a clear one", err)
	}
}

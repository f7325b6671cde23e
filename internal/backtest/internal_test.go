package backtest

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/rules"
)

func TestWeekOf(t *testing.T) {
	cases := map[string]string{
		"2026-03-02T00:00:00Z": "2026-03-02", // a Monday
		"2026-03-08T23:59:59Z": "2026-03-02", // the Sunday after
		"2026-03-09T00:00:00Z": "2026-03-09",
		"1970-01-01T00:00:00Z": "1969-12-29", // a Thursday
	}
	for in, want := range cases {
		tm, _ := time.Parse(time.RFC3339, in)
		if got := time.UnixMilli(weekOf(tm.UnixMilli())).UTC().Format(time.DateOnly); got != want {
			t.Errorf("weekOf(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestCalibrationBands(t *testing.T) {
	cases := []struct {
		name   string
		scores []float64
		pos    []bool
		bands  int
		auc    float64
	}{
		{"ties share a band", []float64{0, 0, 0, 0, 0, 0, 5, 5, 9, 9}, []bool{false, false, false, false, false, true, false, true, true, true}, 3, 0.8333},
		{"perfect ranking", []float64{1, 2, 3, 4}, []bool{false, false, true, true}, 4, 1},
		{"one class", []float64{1, 2}, []bool{true, true}, 2, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := calibration(c.scores, c.pos)
			if len(got.Bands) != c.bands || got.AUC != c.auc {
				t.Fatalf("%d bands, AUC %v; want %d, %v (%+v)", len(got.Bands), got.AUC, c.bands, c.auc, got.Bands)
			}
			n := 0
			for i, b := range got.Bands {
				n += b.Leads
				if i > 0 && b.Min <= got.Bands[i-1].Max {
					t.Errorf("band %d starts at %v, not above the previous band's %v", b.Band, b.Min, got.Bands[i-1].Max)
				}
			}
			if n != len(c.scores) {
				t.Errorf("bands hold %d leads, want %d", n, len(c.scores))
			}
		})
	}
}

func TestUnifiedDiff(t *testing.T) {
	a := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n"
	b := "a\nB\nc\nd\ne\nf\ng\nh\ni\nJ\nk\nl\n"
	want := `--- x
+++ y
@@ -1,5 +1,5 @@
 a
-b
+B
 c
 d
 e
@@ -7,5 +7,6 @@
 g
 h
 i
-j
+J
 k
+l
`
	if got := unifiedDiff("x", "y", a, b); got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	if got := unifiedDiff("x", "y", "", "a\n"); got != "--- x\n+++ y\n@@ -0,0 +1 @@\n+a\n" {
		t.Errorf("diff from nothing:\n%s", got)
	}
	if unifiedDiff("x", "y", a, a) != "" {
		t.Error("equal files gave a diff")
	}
}

// A comment that states a rewritten value is updated with it, or dropped when the
// value changed sign; a comment with other numbers, or none, stays.
func TestProposeFromBaseRestatesComments(t *testing.T) {
	src := "version: v1\nrules:\n" +
		"  - name: a\n    points: 2   # 2 points per page\n    match: {source: web}\n    cap: {points: 10, per: 7d}  # at most 10 points of browsing per rolling week\n" +
		"  - name: b\n    points: -10  # costs 10 points\n    match: {source: email}\n" +
		"  - name: c\n    points: -5  # costs 5 points\n    match: {source: email, type: open}\n" +
		"  - name: d\n    points: 3  # read 90 days after signing up\n    match: {source: email, type: click}\n" +
		"stages:\n  - name: visitor\n"
	m, err := rules.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	feats := []Feature{{Name: "a", Suggested: 24}, {Name: "b", Suggested: -7}, {Name: "c", Suggested: 4}, {Name: "d", Suggested: 6}}
	got, err := proposeFromBase([]byte(src), "t.yaml", m, feats, "v1")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer(
		"points: 2   # 2 points per page", "points: 24   # 24 points per page",
		"cap: {points: 10, per: 7d}  # at most 10 points", "cap: {points: 120, per: 7d}  # at most 120 points",
		"points: -10  # costs 10 points", "points: -7  # costs 7 points",
		"points: -5  # costs 5 points", "points: 4",
		"points: 3  # read 90 days", "points: 6  # read 90 days",
	).Replace(src)
	if got != want {
		t.Errorf("proposed:\n%s\nwant:\n%s", got, want)
	}
}

func TestProposeFromBaseKeepsLayout(t *testing.T) {
	src := "# comment\nversion: 'v1'   # keep me\nrules:\n  - {name: a, points: 5, match: {source: web}, cap: {points: 10, per: 7d}}\n" +
		"  - name: b        # b's comment\n    points: -2.5\n    match: {source: email}\n  - name: c\n    points: 3\n    match: {source: web}\n" +
		"stages:\n  - name: visitor\n"
	m, err := rules.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	feats := []Feature{{Name: "a", Suggested: 12}, {Name: "b", Suggested: -7}, {Name: "c", Suggested: 3}}
	got, err := proposeFromBase([]byte(src), "t.yaml", m, feats, "v1-calibrated")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer("'v1'", `"v1-calibrated"`, "points: 5,", "points: 12,", "points: 10,", "points: 24,", "points: -2.5", "points: -7").Replace(src)
	if got != want {
		t.Errorf("proposed:\n%s\nwant:\n%s", got, want)
	}
	if _, err := rules.Parse("p.yaml", []byte(got)); err != nil {
		t.Errorf("proposed file does not load: %v", err)
	}
}

// The week labels under the MQLs-per-week chart never overlap, however many weeks
// the history spans, and the first week is always labelled.
func TestWeeklyLabelsDoNotOverlap(t *testing.T) {
	label := regexp.MustCompile(`<text x="([0-9.]+)" y="200\.0" text-anchor="middle">(\d{4}-\d\d-\d\d)</text>`)
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	for _, n := range []int{1, 5, 12, 13, 20, 26, 52, 104, 260} {
		r := Result{}
		for i := 0; i < n; i++ {
			r.Weekly = append(r.Weekly, Week{Week: start.AddDate(0, 0, 7*i).Format(time.DateOnly), NewMQLs: i % 7})
		}
		svg := weeklySVG([]Result{r})
		ms := label.FindAllStringSubmatch(svg, -1)
		if len(ms) == 0 || ms[0][2] != "2026-01-05" {
			t.Fatalf("%d weeks: first label %v", n, ms)
		}
		for i := 1; i < len(ms); i++ {
			a, _ := strconv.ParseFloat(ms[i-1][1], 64)
			b, _ := strconv.ParseFloat(ms[i][1], 64)
			if b-a < 10*6.5+12 {
				t.Errorf("%d weeks: labels %s and %s are %.1f px apart", n, ms[i-1][2], ms[i][2], b-a)
			}
		}
		if n >= 8 && len(ms) < 4 {
			t.Errorf("%d weeks: only %d labels", n, len(ms))
		}
	}
}

package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/scoring"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// testOptions are the options the example files are decoded with: a small MaxBytes,
// so that a too_large example need not weigh a megabyte.
var testOptions = Options{MaxBytes: 16 << 10}

// example is one payload from schemas/testdata.
type example struct {
	path    string
	src     scoring.Source
	valid   bool
	reason  Reason // expected reason code of an invalid example, from its file name
	payload []byte
}

// exampleDirs maps the sources to their folders under schemas/testdata.
var exampleDirs = map[scoring.Source]string{
	scoring.SourceWeb:      "web",
	scoring.SourceEmail:    "email",
	scoring.SourceFeedback: "feedback",
}

func examples(t testing.TB, src scoring.Source) []example {
	t.Helper()
	var out []example
	for _, valid := range []bool{true, false} {
		sub := "invalid"
		if valid {
			sub = "valid"
		}
		files, err := filepath.Glob(filepath.Join("..", "schemas", "testdata", exampleDirs[src], sub, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			ex := example{path: f, src: src, valid: valid, payload: b}
			if !valid {
				code, _, ok := strings.Cut(filepath.Base(f), "--")
				if !ok {
					t.Fatalf("%s: an invalid example's name must start with its reason code and '--'", f)
				}
				ex.reason = Reason(code)
			}
			out = append(out, ex)
		}
	}
	return out
}

func newTestDecoder(t testing.TB, opts Options) *Decoder {
	t.Helper()
	d, err := NewDecoder(opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestValidExamples(t *testing.T) {
	for src := range exampleDirs {
		d := newTestDecoder(t, testOptions)
		n := 0
		for _, ex := range examples(t, src) {
			if !ex.valid {
				continue
			}
			n++
			t.Run(filepath.Base(ex.path), func(t *testing.T) {
				ev, err := d.Decode(src, ex.payload)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				checkAccepted(t, d, src, ex.payload, ev)
				any, err := d.DecodeAny(ex.payload)
				if err != nil || any.Source != src {
					t.Errorf("DecodeAny: source %v, error %v; want %v", any.Source, err, src)
				}
				checkGolden(t, exampleDirs[src]+"--"+filepath.Base(ex.path), ev)
			})
		}
		if n < 10 {
			t.Errorf("%v: only %d valid examples", src, n)
		}
	}
}

func TestInvalidExamples(t *testing.T) {
	for src := range exampleDirs {
		d := newTestDecoder(t, testOptions)
		seen := map[Reason]bool{}
		for _, ex := range examples(t, src) {
			if ex.valid {
				continue
			}
			seen[ex.reason] = true
			t.Run(filepath.Base(ex.path), func(t *testing.T) {
				_, err := d.Decode(src, ex.payload)
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("Decode error = %v, want an *Error with reason %s", err, ex.reason)
				}
				if e.Reason != ex.reason {
					t.Fatalf("reason = %s (%v), want %s", e.Reason, err, ex.reason)
				}
				if !strings.HasPrefix(e.Error(), string(ex.reason)+": ") || e.Msg == "" {
					t.Errorf("Error() = %q, want %q and a message", e.Error(), ex.reason+": …")
				}
			})
		}
		// Every reason applies to every source, except that SendGrid times are
		// integers, which cannot be malformed.
		for _, r := range Reasons() {
			if !seen[r] && !(src == scoring.SourceEmail && r == ReasonBadTimestamp) {
				t.Errorf("%v: no invalid example for %s", src, r)
			}
		}
	}
}

// checkAccepted checks what every accepted event must hold.
func checkAccepted(t *testing.T, d *Decoder, src scoring.Source, payload []byte, ev scoring.Event) {
	t.Helper()
	if ev.ID == "" {
		t.Error("accepted event has no ID")
	}
	if ev.Source != src {
		t.Errorf("Source = %v, want %v", ev.Source, src)
	}
	if ev.Kind == "" {
		t.Error("accepted event has no Kind")
	}
	if o := d.Options(); ev.Time < o.MinTime || ev.Time > o.MaxTime {
		t.Errorf("Time %d is outside [%d, %d]", ev.Time, o.MinTime, o.MaxTime)
	}
	id := ev.Identity
	if id.AnonymousID == "" && id.UserID == "" && id.Email == "" && id.PreviousID == "" && id.LeadID == "" {
		t.Error("accepted event names nobody")
	}
	if !json.Valid(payload) {
		t.Error("accepted a payload encoding/json rejects")
	}
}

// goldenEvent is how a decoded Event is written to a golden file.
type goldenEvent struct {
	scoring.Event
	Source  string // by name rather than number
	TimeUTC string // Time, readable
}

func checkGolden(t *testing.T, name string, ev scoring.Event) {
	t.Helper()
	got, err := json.MarshalIndent(goldenEvent{
		Event:   ev,
		Source:  ev.Source.String(),
		TimeUTC: time.UnixMilli(ev.Time).UTC().Format(time.RFC3339Nano),
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("decoded event differs from %s (run go test -update after checking the change):\ngot:\n%s", path, got)
	}
}

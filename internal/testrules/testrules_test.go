package testrules_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/internal/testrules"
	"github.com/leadscore/leadscore/scoring"
)

// fatalTB records Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// build runs fn with a fatalTB and returns its engine and fatal message.
func build(fn func(tb testing.TB) *scoring.Engine) (e *scoring.Engine, fatal string) {
	f := &fatalTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e = fn(f)
	}()
	<-done
	return e, f.msg
}

func TestLoadAndParse(t *testing.T) {
	const example = "../../examples/rules/b2b-saas.yaml"
	src, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		fn    func(tb testing.TB) *scoring.Engine
		fatal string // substring of the failure; "" for an engine
	}{
		{"load", func(tb testing.TB) *scoring.Engine { return testrules.Load(tb, example) }, ""},
		{"parse", func(tb testing.TB) *scoring.Engine { return testrules.Parse(tb, "b2b.yaml", src) }, ""},
		{"missing file", func(tb testing.TB) *scoring.Engine { return testrules.Load(tb, "no/such/rules.yaml") }, "no/such/rules.yaml"},
		{"invalid rules", func(tb testing.TB) *scoring.Engine { return testrules.Parse(tb, "bad.yaml", []byte("stages: [")) }, "bad.yaml"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, fatal := build(c.fn)
			switch {
			case c.fatal == "" && (e == nil || fatal != ""):
				t.Fatalf("engine %v, failure %q", e, fatal)
			case c.fatal != "" && !strings.Contains(fatal, c.fatal):
				t.Fatalf("failure %q, want it to name %q", fatal, c.fatal)
			}
		})
	}
}

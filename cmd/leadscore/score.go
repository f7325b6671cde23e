package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/leadscore/leadscore/replay"
	"github.com/leadscore/leadscore/rules"
)

type scoreCmd struct {
	Rules     []string `required:"" type:"path" sep:"none" env:"LEADSCORE_RULES" help:"Rules file (YAML), or a directory of them; repeat it to score under several models side by side, as run does."`
	Events    string   `default:"-" help:"JSONL event log: Segment, SendGrid and sales-feedback payloads, one per line, mixed (.gz accepted; - for stdin)."`
	Out       string   `default:"-" help:"Where to write the JSONL output (- for stdout)."`
	At        string   `help:"Instant to bring every lead to before reporting (RFC 3339), not before the log's last event; default: the latest event time in the log."`
	NoAdvance bool     `help:"Leave every lead at its own last event: no time-driven change after it (only the stage changes the events cause; each lead reported as of its last event). Excludes --at."`
	Strict    bool     `help:"Fail on the first bad line instead of reporting it and going on."`
}

func (c *scoreCmd) Run(e *env) error {
	models, err := rules.LoadSet(c.Rules...)
	if err != nil {
		return err
	}
	var at int64
	if c.NoAdvance && c.At != "" {
		return fmt.Errorf("--no-advance and --at exclude each other")
	}
	if c.At != "" {
		t, err := time.Parse(time.RFC3339Nano, c.At)
		if err != nil {
			return fmt.Errorf("--at: %w", err)
		}
		at = t.UnixMilli()
	}
	in, closeIn, err := openInput(c.Events)
	if err != nil {
		return err
	}
	defer closeIn()
	out := e.stdout
	if c.Out != "-" {
		f, err := os.Create(c.Out)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	w := bufio.NewWriter(out)
	defer w.Flush()
	stats, err := replay.ScoreLogSet(models, in, w, replay.LogOptions{At: at, NoAdvance: c.NoAdvance, Strict: c.Strict, Bad: func(line int, err error) {
		fmt.Fprintf(e.stderr, "%s:%d: %v\n", c.Events, line, err)
	}})
	fmt.Fprintf(e.stderr, "scored %d events (%d duplicates, %d ignored, %d bad) for %d leads; %d stage changes",
		stats.Events, stats.Duplicates, stats.Ignored, stats.Bad, stats.Leads, stats.Transitions)
	if stats.Accounts > 0 {
		fmt.Fprintf(e.stderr, "; %d accounts, %d account stage changes", stats.Accounts, stats.AccountTransitions)
	}
	fmt.Fprintln(e.stderr)
	return err
}

func openInput(name string) (io.Reader, func(), error) {
	var r io.Reader = os.Stdin
	closer := func() {}
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, nil, err
		}
		r, closer = f, func() { f.Close() }
	}
	if strings.HasSuffix(name, ".gz") {
		gz, err := gzip.NewReader(r)
		if err != nil {
			closer()
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		return gz, closer, nil
	}
	return r, closer, nil
}

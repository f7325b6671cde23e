package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/journeys"
	"github.com/leadscore/leadscore/replay"
	"github.com/leadscore/leadscore/rules"
	"github.com/leadscore/leadscore/scoring"
)

// demoRulesDefault is --rules' default. When it is not found from the working
// directory, the demo uses the copy embedded in the binary.
const demoRulesDefault = "examples/rules/b2b-saas.yaml"

// demoCmd is `leadscore demo`: simulated visitor journeys scored live, in process.
//
// This interim demo runs the journey generator, the event decoders and the replay
// runner (the engine and identity stitching the live processor uses) in one
// process, paced in wall-clock time. It needs no Kafka and no Redis.
type demoCmd struct {
	Rate     float64       `default:"200" env:"LEADSCORE_DEMO_RATE" help:"Events per second, at most."`
	Leads    int           `default:"2000" env:"LEADSCORE_DEMO_LEADS" help:"Simulated people arriving per year of simulated time."`
	Seed     int64         `default:"1" env:"LEADSCORE_DEMO_SEED" help:"Seed of the simulated history: the same seed plays the same journeys."`
	Duration time.Duration `default:"0s" env:"LEADSCORE_DEMO_DURATION" help:"Stop after this long (0: run until Ctrl-C). A summary is printed either way."`
	Rules    string        `default:"examples/rules/b2b-saas.yaml" env:"LEADSCORE_RULES" help:"Rules file (YAML). When the default is not found, the copy embedded in the binary is used."`
	Speedup  float64       `default:"604800" env:"LEADSCORE_DEMO_SPEEDUP" help:"Simulated seconds per wall-clock second, at most (604800: a week a second; --rate slows the clock when events are dense)."`
	Refresh  time.Duration `default:"1s" env:"LEADSCORE_DEMO_REFRESH" help:"How often the view is refreshed."`
	Plain    bool          `env:"LEADSCORE_DEMO_PLAIN" help:"Print plain periodic lines instead of redrawing the terminal (automatic when stdout is not a terminal)."`
}

// Run plays the demo until Ctrl-C, SIGTERM or --duration, then prints the summary.
func (c *demoCmd) Run(e *env) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Duration)
		defer cancel()
	}
	_, err := c.run(ctx, e.stdout, !c.Plain && isTerminal(e.stdout))
	return err
}

// isTerminal reports whether w is a terminal that understands ANSI escapes.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (c *demoCmd) validate() error {
	var errs []error
	if !(c.Rate > 0) || math.IsInf(c.Rate, 0) {
		errs = append(errs, fmt.Errorf("--rate %g: must be a positive number of events per second", c.Rate))
	}
	if !(c.Speedup > 0) || math.IsInf(c.Speedup, 0) {
		errs = append(errs, fmt.Errorf("--speedup %g: must be a positive number", c.Speedup))
	}
	if c.Leads <= 0 {
		errs = append(errs, fmt.Errorf("--leads %d: must be positive", c.Leads))
	}
	if c.Refresh <= 0 {
		errs = append(errs, fmt.Errorf("--refresh %s: must be positive", c.Refresh))
	}
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("--duration %s: must not be negative", c.Duration))
	}
	return errors.Join(errs...)
}

// loadRules loads --rules, falling back to the embedded copy of the default file
// when the default path does not exist from here. It returns where the rules came
// from, for the header.
func (c *demoCmd) loadRules() (*scoring.Model, string, error) {
	m, err := rules.Load(c.Rules)
	if err == nil {
		return m, c.Rules, nil
	}
	if c.Rules != demoRulesDefault || !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	m, err = rules.Parse(journeys.B2BRulesFile, journeys.B2BRules())
	return m, "embedded " + journeys.B2BRulesFile, err
}

// run plays the demo until ctx is done and returns its statistics. With tty it
// redraws a live view with ANSI escapes; otherwise it prints a plain line per
// refresh.
func (c *demoCmd) run(ctx context.Context, out io.Writer, tty bool) (*demoStats, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	m, source, err := c.loadRules()
	if err != nil {
		return nil, err
	}
	eng, err := scoring.NewEngine(m)
	if err != nil {
		return nil, err
	}
	dec, err := events.NewDecoder(events.Options{})
	if err != nil {
		return nil, err
	}
	gen, err := journeys.New(journeys.Config{Seed: c.Seed, Leads: c.Leads, Endless: true})
	if err != nil {
		return nil, err
	}
	d := newDemo(eng, dec, source, c)
	v := &demoView{out: out, tty: tty, d: d}
	v.start()
	d.play(ctx, gen, v)
	v.stop()
	d.summary(out)
	return &d.demoStats, nil
}

// demoStats is what the demo counted.
type demoStats struct {
	Events     int64            // records played, re-sends included
	ByTopic    map[string]int64 // records per topic
	Duplicates int64            // re-sends the engine recognised
	Ignored    map[string]int64 // ignored events by reason (bot, machine_open, …)
	Bad        int64            // records that did not decode (never expected)
	Into       map[string]int64 // stage changes by destination stage
	Moves      map[string]int64 // stage changes by "from → to"
	Stages     map[string]int   // leads per stage at the end
	SimFrom    int64            // simulated time of the first record, ms
	SimTo      int64            // simulated time reached, ms
	Wall       time.Duration    // wall-clock time played
}

// handoff is a stage change worth showing: into sql or sal, or a regression.
type handoff struct {
	at       int64
	lead     string
	from, to string
	cause    string
	score    float64
	fit      float64
	grade    byte
	down     bool
}

// How many handoffs (into sql or sal) and regressions the view keeps.
const (
	upsShown   = 6
	downsShown = 4
)

type demo struct {
	demoStats
	eng    *scoring.Engine
	dec    *events.Decoder
	r      *replay.Runner
	source string
	cfg    *demoCmd
	known  map[string]struct{} // lead ids seen (some are later absorbed by stitching)
	ups    []handoff           // latest handoffs into sql or sal, newest last
	downs  []handoff           // latest regressions, newest last
	// Handoffs and regressions since the last plain line.
	freshUps, freshDowns int
	lastErr              error
	began                time.Time
	note                 string // why the demo stopped on its own, if it did
}

func newDemo(eng *scoring.Engine, dec *events.Decoder, source string, cfg *demoCmd) *demo {
	d := &demo{
		demoStats: demoStats{ByTopic: map[string]int64{}, Ignored: map[string]int64{},
			Into: map[string]int64{}, Moves: map[string]int64{}, Stages: map[string]int{}},
		eng:    eng,
		dec:    dec,
		r:      replay.New(eng),
		source: source,
		cfg:    cfg,
		known:  map[string]struct{}{},
	}
	d.r.OnTransition = d.transition
	return d
}

func (d *demo) transition(lead string, tr *scoring.Transition) {
	d.Into[tr.To]++
	d.Moves[tr.From+" → "+tr.To]++
	down := d.eng.Direction(tr.From, tr.To) == "down"
	if tr.To != "sql" && tr.To != "sal" && !down {
		return
	}
	h := handoff{at: tr.At, lead: lead, from: tr.From, to: tr.To, cause: causeText(tr.Cause),
		score: tr.Score, fit: tr.Fit, grade: tr.Grade, down: down}
	if down {
		d.downs = keepLast(d.downs, h, downsShown)
		d.freshDowns++
	} else {
		d.ups = keepLast(d.ups, h, upsShown)
		d.freshUps++
	}
}

// keepLast appends h to list, keeping the last n.
func keepLast(list []handoff, h handoff, n int) []handoff {
	if len(list) == n {
		copy(list, list[1:])
		list = list[:n-1]
	}
	return append(list, h)
}

// latest returns the last n of list with the last m of other, newest first (by
// event time).
func latest(list []handoff, n int, other []handoff, m int) []handoff {
	out := append([]handoff(nil), list[max(len(list)-n, 0):]...)
	out = append(out, other[max(len(other)-m, 0):]...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].at > out[j].at })
	return out
}

// causeText renders a transition's cause compactly: "trigger demo_request",
// "feedback rejected (no_budget)", "decay", "inactivity inactive_90d".
func causeText(c scoring.Cause) string {
	s := c.Kind.String()
	switch {
	case c.Kind == scoring.CauseFeedback:
		s += " " + c.Feedback
		if c.Reason != "" {
			s += " (" + c.Reason + ")"
		}
	case c.Kind == scoring.CauseMerge:
		s += " of " + c.Rule
	case c.Rule != "":
		s += " " + c.Rule
	}
	return s
}

// apply decodes one record and runs it through the replay runner.
func (d *demo) apply(rec *journeys.Record) {
	d.Events++
	d.ByTopic[rec.Topic]++
	ev, err := d.dec.DecodeAny(rec.Value)
	if err != nil {
		d.Bad++
		d.lastErr = err
		return
	}
	res := d.r.Apply(&ev)
	switch res.Outcome.Status {
	case scoring.Duplicate:
		d.Duplicates++
	case scoring.Ignored:
		d.Ignored[res.Outcome.Why]++
	}
	if res.Lead != "" {
		d.known[res.Lead] = struct{}{}
	}
}

// countStages recounts leads per stage (leads absorbed by stitching are dropped).
func (d *demo) countStages() {
	clear(d.Stages)
	for id := range d.known {
		st := d.r.Lead(id)
		if st == nil {
			delete(d.known, id)
			continue
		}
		d.Stages[st.Stage]++
	}
}

// settle brings every lead to the simulated instant simTo (applying the time-driven
// changes due by then: decay, inactivity) and recounts the funnel.
func (d *demo) settle(simTo int64, now time.Time) {
	d.SimTo = simTo
	d.Wall = now.Sub(d.began)
	d.r.AdvanceAll(simTo)
	d.countStages()
}

// demoTick is how often the player wakes up to release due records.
const demoTick = 20 * time.Millisecond

// lastYear stops an endless demo before its simulated clock leaves the decoder's
// window of plausible event times (year 2100), after hours of play.
const lastYear = 2095

// play releases records as the simulated clock reaches their time, at most Rate
// per second, until ctx is done. The simulated clock runs at Speedup; when the rate
// limit holds records back, the clock waits for them.
func (d *demo) play(ctx context.Context, gen *journeys.Generator, v *demoView) {
	next, _ := gen.Next() // endless: never runs out
	d.SimFrom = next.Time.UnixMilli()
	clock := float64(d.SimFrom) // simulated time, ms
	quota := 1.0                // records that may be released now
	burst := math.Max(1, d.cfg.Rate/4)
	d.began = time.Now()
	last, drawn := d.began, d.began
	tick := time.NewTicker(demoTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			d.settle(int64(clock), time.Now())
			return
		case now := <-tick.C:
			dt := now.Sub(last).Seconds()
			last = now
			clock += dt * d.cfg.Speedup * 1000
			quota = math.Min(quota+dt*d.cfg.Rate, burst)
			for quota >= 1 && float64(next.Time.UnixMilli()) <= clock {
				if next.Time.Year() >= lastYear {
					d.note = fmt.Sprintf("the simulated clock reached %d; restart the demo to play again", lastYear)
					d.settle(next.Time.UnixMilli(), now)
					return
				}
				d.apply(&next)
				quota--
				next, _ = gen.Next()
			}
			if t := float64(next.Time.UnixMilli()); t < clock {
				clock = t // rate-limited: hold the simulated clock at the backlog
			}
			if now.Sub(drawn) >= d.cfg.Refresh {
				drawn = now
				d.settle(int64(clock), now)
				v.draw()
			}
		}
	}
}

// summary prints the final counts.
func (d *demo) summary(out io.Writer) {
	var b strings.Builder
	secs := math.Max(d.Wall.Seconds(), 1e-9)
	fmt.Fprintf(&b, "\nsummary: %s of wall-clock time; simulated %s → %s (%s)\n", d.Wall.Round(100*time.Millisecond),
		simDay(d.SimFrom), simDay(d.SimTo), simSpan(d.SimTo-d.SimFrom))
	if d.note != "" {
		fmt.Fprintf(&b, "stopped: %s\n", d.note)
	}
	fmt.Fprintf(&b, "events: %d (%.0f/s) — web %d, email %d, feedback %d; duplicates %d; ignored %s; bad %d\n",
		d.Events, float64(d.Events)/secs, d.ByTopic[journeys.TopicWeb], d.ByTopic[journeys.TopicEmail],
		d.ByTopic[journeys.TopicFeedback], d.Duplicates, ignoredText(d.Ignored), d.Bad)
	if d.lastErr != nil {
		fmt.Fprintf(&b, "last decoding error: %v\n", d.lastErr)
	}
	total := 0
	for _, n := range d.Stages {
		total += n
	}
	fmt.Fprintf(&b, "leads by stage (%d):", total)
	for _, s := range d.eng.Model().Stages {
		fmt.Fprintf(&b, " %s %d", s.Name, d.Stages[s.Name])
	}
	var moves int64
	keys := make([]string, 0, len(d.Moves))
	for k, n := range d.Moves {
		keys = append(keys, k)
		moves += n
	}
	sort.Slice(keys, func(i, j int) bool {
		if d.Moves[keys[i]] != d.Moves[keys[j]] {
			return d.Moves[keys[i]] > d.Moves[keys[j]]
		}
		return keys[i] < keys[j]
	})
	fmt.Fprintf(&b, "\nstage changes (%d):\n", moves)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-28s %7d\n", k, d.Moves[k])
	}
	io.WriteString(out, b.String())
}

func ignoredText(m map[string]int64) string {
	if len(m) == 0 {
		return "0"
	}
	var total int64
	keys := make([]string, 0, len(m))
	for k, n := range m {
		keys = append(keys, k)
		total += n
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

func simDay(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02") }

func simSpan(ms int64) string {
	days := float64(ms) / float64(24*time.Hour/time.Millisecond)
	if days < 2 {
		return fmt.Sprintf("%.1f h", days*24)
	}
	return fmt.Sprintf("%.0f days", days)
}

// demoView draws the demo: a redrawn screen on a terminal, plain lines elsewhere.
type demoView struct {
	out       io.Writer
	tty       bool
	d         *demo
	lastDraw  time.Time
	lastCount int64
}

func (v *demoView) start() {
	d := v.d
	v.lastDraw = time.Now()
	if v.tty {
		io.WriteString(v.out, "\x1b[?25l\x1b[H\x1b[2J") // hide the cursor, clear the screen
		return
	}
	fmt.Fprintf(v.out, "leadscore demo: model %s from %s; seed %d, %d leads a year, at most %g events/s, %s of simulated time per second\n",
		d.eng.Model().Version, d.source, d.cfg.Seed, d.cfg.Leads, d.cfg.Rate, simSpan(int64(d.cfg.Speedup*1000)))
}

func (v *demoView) stop() {
	if v.tty {
		io.WriteString(v.out, "\x1b[?25h") // show the cursor again
	}
}

// rate returns the events per second since the previous draw.
func (v *demoView) rate() float64 {
	now := time.Now()
	dt := now.Sub(v.lastDraw).Seconds()
	n := v.d.Events - v.lastCount
	v.lastDraw, v.lastCount = now, v.d.Events
	if dt <= 0 {
		return 0
	}
	return float64(n) / dt
}

func (v *demoView) draw() {
	if v.tty {
		v.screen()
	} else {
		v.line()
	}
}

// line prints one plain status line, then the handoffs since the previous one (at
// most three).
func (v *demoView) line() {
	d := v.d
	var b strings.Builder
	fmt.Fprintf(&b, "[%6.1fs] sim %s  events %d (%.0f/s)  dup %d  ignored %d |", d.Wall.Seconds(),
		time.UnixMilli(d.SimTo).UTC().Format("2006-01-02 15:04"), d.Events, v.rate(), d.Duplicates, sum(d.Ignored))
	for _, s := range d.eng.Model().Stages {
		fmt.Fprintf(&b, " %s %d", s.Name, d.Stages[s.Name])
	}
	b.WriteString("\n")
	for _, h := range latest(d.ups, min(d.freshUps, 2), d.downs, min(d.freshDowns, 1)) {
		b.WriteString("    " + h.String() + "\n")
	}
	d.freshUps, d.freshDowns = 0, 0
	io.WriteString(v.out, b.String())
}

// screen redraws the terminal: header, funnel bars, totals and latest handoffs.
func (v *demoView) screen() {
	d := v.d
	const (
		clearEOL = "\x1b[K"
		bold     = "\x1b[1m"
		dim      = "\x1b[2m"
		reset    = "\x1b[0m"
	)
	var b strings.Builder
	b.WriteString("\x1b[H")
	ln := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString(clearEOL + "\n")
	}
	ln("%sleadscore demo%s — model %s (%s) — seed %d", bold, reset, d.eng.Model().Version, d.source, d.cfg.Seed)
	ln("%ssimulated %s · %s per second · wall %s · Ctrl-C to stop%s", dim,
		time.UnixMilli(d.SimTo).UTC().Format("Mon 2006-01-02 15:04"), simSpan(int64(d.cfg.Speedup*1000)),
		d.Wall.Round(time.Second), reset)
	ln("")
	ln("%sevents%s %d  (%.0f/s)   web %d · email %d · feedback %d", bold, reset, d.Events, v.rate(),
		d.ByTopic[journeys.TopicWeb], d.ByTopic[journeys.TopicEmail], d.ByTopic[journeys.TopicFeedback])
	ln("duplicates %d · ignored: bots %d, machine opens %d, other %d · bad %d", d.Duplicates,
		d.Ignored["bot"], d.Ignored["machine_open"], sum(d.Ignored)-d.Ignored["bot"]-d.Ignored["machine_open"], d.Bad)
	ln("")
	ln("%sfunnel%s %s(leads per stage)%s", bold, reset, dim, reset)
	peak := 1
	for _, n := range d.Stages {
		peak = max(peak, n)
	}
	for _, s := range d.eng.Model().Stages {
		n := d.Stages[s.Name]
		ln("  %-13s %6d %s", s.Name, n, bar(n, peak, 48))
	}
	ln("")
	ln("%slatest handoffs%s %s(→ sql, → sal, regressions ↓)%s", bold, reset, dim, reset)
	shown := latest(d.ups, upsShown, d.downs, downsShown)
	for _, h := range shown {
		ln("  %s", h.String())
	}
	for i := len(shown); i < upsShown+downsShown; i++ {
		ln("")
	}
	b.WriteString("\x1b[J")
	io.WriteString(v.out, b.String())
}

func (h handoff) String() string {
	arrow := "→"
	if h.down {
		arrow = "↓"
	}
	grade := ""
	if h.grade != 0 {
		grade = " " + string(h.grade)
	}
	lead := h.lead
	if len(lead) > 18 { // anonymous ids are long
		lead = lead[:17] + "…"
	}
	return fmt.Sprintf("%s  %-18s %-11s %s %-11s %-32s score %6.1f  fit %3.0f%s",
		time.UnixMilli(h.at).UTC().Format("2006-01-02 15:04"), lead, h.from, arrow, h.to, h.cause, h.score, h.fit, grade)
}

// bar draws n to scale, peak filling width cells, with eighth-cell precision; any
// n > 0 shows at least a sliver.
func bar(n, peak, width int) string {
	if n <= 0 || peak <= 0 {
		return ""
	}
	eighths := int(math.Round(float64(n) / float64(peak) * float64(width*8)))
	eighths = max(eighths, 1)
	var b strings.Builder
	b.WriteString(strings.Repeat("█", eighths/8))
	if r := eighths % 8; r > 0 {
		b.WriteString([]string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}[r])
	}
	return b.String()
}

func sum(m map[string]int64) int64 {
	var t int64
	for _, n := range m {
		t += n
	}
	return t
}

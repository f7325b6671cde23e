package demo

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// view draws the demo: a redrawn screen on a terminal, plain lines elsewhere.
type view struct {
	out       io.Writer
	tty       bool
	d         *session
	lastDraw  time.Time
	lastCount int64
	// size returns the terminal's columns and rows (0: unknown, no
	// clipping); default termSize(out).
	size func() (cols, rows int)
	// tried is set once the plain view has printed a lead id to try.
	tried bool
}

// where lists the addresses outside clients can use.
func (v *view) where() []string {
	d := v.d
	r := d.rig
	kafka := "kafka " + r.kafkaAddr
	if r.kafkaNote != "" {
		kafka += " (" + r.kafkaNote + ")"
	}
	kafka += fmt.Sprintf(" — in: %s, %s, %s; out: %s", topics.Web, topics.Email, topics.Feedback,
		strings.Join(topics.Outputs(d.set.HasAccounts()), ", "))
	var lines []string
	if r.consoleURL != "" {
		lines = append(lines, "console "+r.consoleURL)
	}
	lines = append(lines, kafka, "redis "+r.redisDesc)
	if r.httpAddr != "" {
		more := " · /metrics · /readyz"
		if d.set.HasAccounts() {
			more = " · /v1/accounts?stage=engaged" + more
		}
		h := "api http://" + r.httpAddr + "/v1/leads?stage=sql" + more
		if id := d.tryID(); id != "" {
			h = "api http://" + r.httpAddr + "/v1/leads/" + id + " · /v1/leads?stage=sql" + more
		}
		if r.httpNote != "" {
			h += " (" + r.httpNote + ")"
		}
		lines = append(lines, h)
	}
	return lines
}

func (v *view) start() {
	d := v.d
	v.lastDraw = time.Now()
	if v.tty {
		io.WriteString(v.out, "\x1b[?25l\x1b[H\x1b[2J") // hide the cursor, clear the screen
		return
	}
	if d.rig.consoleURL != "" { // first thing: where to look
		fmt.Fprintf(v.out, "leadscore demo: open the console at %s\n", d.rig.consoleURL)
	}
	fmt.Fprintf(v.out, "leadscore demo: %s from %s; seed %d, %d leads a year, at most %g events/s, %s of simulated time per second\n",
		d.modelsText(), d.source, d.cfg.Seed, d.cfg.Leads, d.cfg.Rate, simSpan(int64(d.cfg.Speedup*1000)))
	for _, l := range v.where() {
		fmt.Fprintf(v.out, "  %s\n", l)
	}
}

func (v *view) stop() {
	if v.tty {
		io.WriteString(v.out, "\x1b[?25h") // show the cursor again
	}
}

// rate returns the events consumed per second since the previous draw.
func (v *view) rate() float64 {
	now := time.Now()
	dt := now.Sub(v.lastDraw).Seconds()
	n := v.d.Consumed - v.lastCount
	v.lastDraw, v.lastCount = now, v.d.Consumed
	if dt <= 0 {
		return 0
	}
	return float64(n) / dt
}

func (v *view) draw() {
	if v.tty {
		v.screen()
	} else {
		v.line()
	}
}

// line prints one plain status line, then the handoffs since the previous one (at
// most three).
func (v *view) line() {
	d := v.d
	var b strings.Builder
	if id := d.tryID(); id != "" && !v.tried && d.rig != nil && d.rig.httpAddr != "" {
		v.tried = true
		fmt.Fprintf(&b, "  try: curl -s http://%s/v1/leads/%s\n", d.rig.httpAddr, id)
	}
	fmt.Fprintf(&b, "[%6.1fs] sim %s  events %d (%.0f/s)  dup %d  ignored %d |", d.Wall.Seconds(),
		time.UnixMilli(d.SimTo).UTC().Format("2006-01-02 15:04"), d.Consumed, v.rate(), d.Duplicates, d.Ignored)
	for _, s := range d.eng.Model().Stages {
		fmt.Fprintf(&b, " %s %d", s.Name, d.Stages[s.Name])
	}
	for _, e := range d.set.Engines()[1:] {
		fmt.Fprintf(&b, " | %s:", e.Model().Name)
		for _, s := range e.Model().Stages {
			fmt.Fprintf(&b, " %s %d", s.Name, d.ByModel[e.Model().Name][s.Name])
		}
	}
	if line := d.accountsLine(); line != "" {
		b.WriteString(" | accounts: " + line)
	}
	b.WriteString("\n")
	for _, h := range latest(d.ups, min(d.freshUps, 2), d.downs, min(d.freshDowns, 1)) {
		b.WriteString("    " + h.String() + "\n")
	}
	d.freshUps, d.freshDowns = 0, 0
	io.WriteString(v.out, b.String())
}

// screen redraws the terminal: header, funnel bars, totals and latest handoffs.
func (v *view) screen() {
	d := v.d
	const (
		clearEOL = "\x1b[K"
		bold     = "\x1b[1m"
		dim      = "\x1b[2m"
		reset    = "\x1b[0m"
	)
	var lines []string
	ln := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	ln("%sleadscore demo%s — %s (%s) — seed %d", bold, reset, d.modelsText(), d.source, d.cfg.Seed)
	ln("%ssimulated %s · %s per second · wall %s · Ctrl-C to stop%s", dim,
		time.UnixMilli(d.SimTo).UTC().Format("Mon 2006-01-02 15:04"), simSpan(int64(d.cfg.Speedup*1000)),
		d.Wall.Round(time.Second), reset)
	for _, l := range v.where() {
		ln("%s%s%s", dim, l, reset)
	}
	ln("")
	ln("%sevents%s %d  (%.0f/s)   web %d · email %d · feedback %d   (produced %d)", bold, reset, d.Consumed, v.rate(),
		d.ByTopic[topics.Web], d.ByTopic[topics.Email], d.ByTopic[topics.Feedback], d.Produced)
	ln("duplicates %d · ignored (bots, machine opens, …) %d · dead letters %d", d.Duplicates, d.Ignored, d.DeadLetter)
	ln("")
	title := "funnel"
	if d.set.Len() > 1 {
		title = "funnel of " + d.eng.Model().Name
	}
	ln("%s%s%s %s(leads per stage)%s", bold, title, reset, dim, reset)
	peak := 1
	for _, n := range d.Stages {
		peak = max(peak, n)
	}
	for _, s := range d.eng.Model().Stages {
		n := d.Stages[s.Name]
		ln("  %-13s %6d %s", s.Name, n, bar(n, peak, 48))
	}
	for _, e := range d.set.Engines()[1:] {
		var b strings.Builder
		for i, s := range e.Model().Stages {
			if i > 0 {
				b.WriteString(" · ")
			}
			fmt.Fprintf(&b, "%s %d", s.Name, d.ByModel[e.Model().Name][s.Name])
		}
		ln("%s%s%s %s", bold, e.Model().Name, reset, b.String())
	}
	if line := d.accountsLine(); line != "" {
		ln("")
		ln("%saccounts%s %s", bold, reset, line)
		for _, h := range slices.Backward(d.accountUps) {
			ln("  %s", h.String())
		}
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
	// The frame must fit the terminal: a line wider than it wraps, a frame
	// taller than it scrolls, and either way the next frame, drawn from the
	// top, leaves parts of the previous one (its header twice, under tmux).
	// Lines are clipped to the width and the frame to the height less one
	// (the last line's newline must not scroll).
	size := v.size
	if size == nil {
		size = func() (int, int) { return termSize(v.out) }
	}
	cols, rows := size()
	if rows > 1 && len(lines) > rows-1 {
		lines = lines[:rows-1]
	}
	var b strings.Builder
	b.WriteString("\x1b[H")
	for _, l := range lines {
		b.WriteString(clip(l, cols) + reset + clearEOL + "\n")
	}
	b.WriteString("\x1b[J")
	io.WriteString(v.out, b.String())
}

// clip cuts s to at most cols visible columns (cols ≤ 0: no limit), ANSI
// escape sequences taking none. Every rune of the view is one column wide.
func clip(s string, cols int) string {
	if cols <= 0 {
		return s
	}
	n, esc := 0, false
	for i, r := range s {
		switch {
		case esc:
			esc = !(r >= '@' && r <= '~' && r != '[')
		case r == '\x1b':
			esc = true
		default:
			if n == cols {
				return s[:i]
			}
			n++
		}
	}
	return s
}

func (h handoff) String() string {
	arrow := "→"
	if h.down {
		arrow = "↓"
	}
	grade := ""
	if h.grade != "" {
		grade = " " + h.grade
	}
	lead := h.lead
	if len(lead) > 18 { // anonymous ids are long
		lead = lead[:17] + "…"
	}
	from := h.from
	if h.model != "" {
		from = h.model + ": " + from
	}
	return fmt.Sprintf("%s  %-18s %-11s %s %-11s %-32s score %6.1f  fit %3.0f%s",
		time.UnixMilli(h.at).UTC().Format("2006-01-02 15:04"), lead, from, arrow, h.to, h.cause, h.score, h.fit, grade)
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

// modelsText names the models played: "model b2b-saas-2026.11", or with
// several "models b2b-saas (b2b-saas-2026.11), textbook-funnel (textbook-1)".
func (d *session) modelsText() string {
	if d.set.Len() == 1 {
		return "model " + d.eng.Model().Version
	}
	parts := make([]string, d.set.Len())
	for i, e := range d.set.Engines() {
		parts[i] = e.Model().Name + " (" + e.Model().Version + ")"
	}
	return "models " + strings.Join(parts, ", ")
}

// accountsLine counts the accounts per stage of the first model that scores
// accounts ("" when none does): those that ever moved, by their stage now.
func (d *session) accountsLine() string {
	for _, e := range d.set.Engines() {
		am := e.Model().Accounts
		if am == nil {
			continue
		}
		parts := make([]string, 0, len(am.Stages))
		for _, s := range am.Stages {
			parts = append(parts, fmt.Sprintf("%s %d", s.Name, d.Accounts[s.Name]))
		}
		return strings.Join(parts, " · ")
	}
	return ""
}

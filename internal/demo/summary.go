package demo

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// summary prints the final counts.
func (d *session) summary(out io.Writer) {
	var b strings.Builder
	secs := math.Max(d.Wall.Seconds(), 1e-9)
	fmt.Fprintf(&b, "\nsummary: %s of wall-clock time; simulated %s → %s (%s)\n", d.Wall.Round(100*time.Millisecond),
		simDay(d.SimFrom), simDay(d.SimTo), simSpan(d.SimTo-d.SimFrom))
	if d.note != "" {
		fmt.Fprintf(&b, "stopped: %s\n", d.note)
	}
	fmt.Fprintf(&b, "events: %d produced, %d consumed (%.0f/s) — web %d, email %d, feedback %d; duplicates %d; ignored %d; dead letters %d\n",
		d.Produced, d.Consumed, float64(d.Consumed)/secs, d.ByTopic[topics.Web], d.ByTopic[topics.Email],
		d.ByTopic[topics.Feedback], d.Duplicates, d.Ignored, d.DeadLetter)
	if n := d.sent.failed.Load(); n > 0 {
		fmt.Fprintf(&b, "produce failures: %d (last: %v)\n", n, d.sent.lastErr.Load())
	}
	total := 0
	for _, n := range d.Stages {
		total += n
	}
	fmt.Fprintf(&b, "leads by stage (%d people):", d.People)
	for _, e := range d.set.Engines() {
		if d.set.Len() > 1 {
			fmt.Fprintf(&b, "\n  %s:", e.Model().Name)
		}
		for _, s := range e.Model().Stages {
			fmt.Fprintf(&b, " %s %d", s.Name, d.ByModel[e.Model().Name][s.Name])
		}
	}
	if line := d.accountsLine(); line != "" {
		fmt.Fprintf(&b, "\naccounts by stage (of those that moved): %s; %d account stage changes (from the %s topic)", line, d.AccountMoves, topics.AccountStageChanges)
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
	fmt.Fprintf(&b, "\nstage changes (%d, from the %s topic):\n", moves, topics.StageChanges)
	width := 28
	for _, k := range keys {
		width = max(width, utf8.RuneCountInString(k))
	}
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-*s %7d\n", width, k, d.Moves[k])
	}
	io.WriteString(out, b.String())
}

func simDay(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02") }

func simSpan(ms int64) string {
	days := float64(ms) / float64(24*time.Hour/time.Millisecond)
	if days < 2 {
		return fmt.Sprintf("%.1f h", days*24)
	}
	return fmt.Sprintf("%.0f days", days)
}

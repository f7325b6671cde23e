package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/scoring"
)

// stats is what the demo counted.
type stats struct {
	Produced   int64            // records the generator produced
	ByTopic    map[string]int64 // records consumed by the processor per input topic
	Consumed   int64            // records the processor consumed
	Duplicates int64            // upstream re-sends the engine recognised
	Ignored    int64            // bots, machine opens, feedback that does not apply
	DeadLetter int64            // records sent to the dead-letter topic
	Into       map[string]int64 // stage changes by destination stage (the first model's)
	Moves      map[string]int64 // stage changes by "from → to" ("model: from → to" for the other models)
	Stages     map[string]int   // leads per stage of the first model (visitors estimated) at the end
	// ByModel is leads per stage of every model, by model name.
	ByModel map[string]map[string]int
	// Accounts counts the accounts per account stage (of those that ever
	// changed stage), and AccountMoves their stage changes.
	Accounts     map[string]int
	AccountMoves int64
	People       int64         // simulated people who have arrived
	SimFrom      int64         // simulated time at the start, ms
	SimTo        int64         // simulated time reached, ms
	Wall         time.Duration // wall-clock time played
	KafkaAddr    string        // where the embedded broker listened
	HTTPAddr     string        // where the API listened ("" when off)
}

// handoff is a stage change worth showing: into sql or sal, or a regression.
type handoff struct {
	model    string // "" for the first model
	at       int64
	lead     string
	from, to string
	cause    string
	score    float64
	fit      float64
	grade    string
	down     bool
}

// How many handoffs (into sql or sal) and regressions the view keeps.
const (
	upsShown   = 6
	downsShown = 4
)

// change is one change read from the output topics: a lead's, or (account
// set) an account's.
type change struct {
	lead    output.StageChange
	account *output.AccountStageChange
}

// watchStageChanges consumes the stage-change topics (leads' and accounts')
// from their start (as an outside consumer would) and sends every change on
// the returned channel.
func watchStageChanges(ctx context.Context, kafkaAddr string, log *slog.Logger) (<-chan change, func(), error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr), kgo.ClientID("leadscore-demo-view"),
		kgo.ConsumeTopics(topics.StageChanges, topics.AccountStageChanges), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.WithLogger(franzgo.NewLogger(log)))
	if err != nil {
		return nil, nil, fmt.Errorf("kafka: view consumer: %w", err)
	}
	ch := make(chan change, 256)
	vctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for vctx.Err() == nil {
			fs := cl.PollFetches(vctx)
			fs.EachRecord(func(r *kgo.Record) {
				var c change
				var err error
				if r.Topic == topics.AccountStageChanges {
					c.account = &output.AccountStageChange{}
					err = json.Unmarshal(r.Value, c.account)
				} else {
					err = json.Unmarshal(r.Value, &c.lead)
				}
				if err != nil {
					log.Warn("view: undecodable stage change", "topic", r.Topic, "offset", r.Offset, "err", err)
					return
				}
				select {
				case ch <- c:
				case <-vctx.Done():
				}
			})
		}
	}()
	return ch, func() {
		cancel()
		<-done
		cl.Close()
	}, nil
}

// applyChange counts one change read from the output topics.
func (d *session) applyChange(c *change) {
	if c.account != nil {
		d.applyAccount(c.account)
		return
	}
	d.apply(&c.lead)
}

// applyAccount counts one account stage change.
func (d *session) applyAccount(ac *output.AccountStageChange) {
	if d.lastID["\x01"+ac.AccountID] == ac.ID {
		return
	}
	d.lastID["\x01"+ac.AccountID] = ac.ID
	d.accountStage[ac.AccountID] = ac.To
	d.AccountMoves++
	if ac.Direction != "up" {
		return
	}
	at, _ := time.Parse(time.RFC3339Nano, ac.EventTime)
	h := accountHandoff{at: at.UnixMilli(), account: ac.AccountID, to: ac.To, engagement: ac.Engagement,
		engaged: ac.EngagedMembers, roles: strings.Join(ac.Roles, "+")}
	if len(d.accountUps) == accountUpsShown {
		copy(d.accountUps, d.accountUps[1:])
		d.accountUps = d.accountUps[:accountUpsShown-1]
	}
	d.accountUps = append(d.accountUps, h)
}

// accountHandoff is an account moving up its funnel (engaged, MQA).
type accountHandoff struct {
	at         int64
	account    string
	to         string
	engagement float64
	engaged    int
	roles      string
}

// How many account moves up the view keeps.
const accountUpsShown = 3

func (h accountHandoff) String() string {
	roles := ""
	if h.roles != "" {
		roles = " (" + h.roles + ")"
	}
	return fmt.Sprintf("%s  %-18s → %-9s engagement %6.1f  %d engaged%s",
		time.UnixMilli(h.at).UTC().Format("2006-01-02 15:04"), h.account, h.to, h.engagement, h.engaged, roles)
}

// apply counts one stage change read from the topic.
func (d *session) apply(sc *output.StageChange) {
	if d.lastID[sc.Model+"\x00"+sc.LeadID] == sc.ID {
		return // re-emitted (outbox after a retry): already counted
	}
	d.lastID[sc.Model+"\x00"+sc.LeadID] = sc.ID
	first := sc.Model == d.eng.Model().Name
	if first {
		d.Into[sc.To]++
		d.Moves[sc.From+" → "+sc.To]++
	} else {
		d.Moves[sc.Model+": "+sc.From+" → "+sc.To]++
	}
	stages := d.stage[sc.Model]
	if stages == nil {
		stages = map[string]string{}
		d.stage[sc.Model] = stages
	}
	stages[sc.LeadID] = sc.To
	// A lead that absorbed others (identity stitching) replaces them.
	for _, k := range identityKeys(sc.Identities) {
		if k != sc.LeadID {
			if _, ok := stages[k]; ok {
				delete(stages, k)
				delete(d.lastID, sc.Model+"\x00"+k)
			}
		}
	}
	down := sc.Direction == "down"
	if sc.To != "sql" && sc.To != "sal" && !down {
		return
	}
	at, _ := time.Parse(time.RFC3339Nano, sc.EventTime)
	h := handoff{at: at.UnixMilli(), lead: sc.LeadID, from: sc.From, to: sc.To, cause: causeText(sc.Cause),
		score: sc.Score, fit: sc.Fit, grade: sc.Grade, down: down}
	if !first {
		h.model = sc.Model
	}
	if down {
		d.downs = keepLast(d.downs, h, downsShown)
		d.freshDowns++
	} else {
		d.ups = keepLast(d.ups, h, upsShown)
		d.freshUps++
	}
}

func identityKeys(ids output.Identities) []string {
	var ks []string
	if ids.UserID != "" {
		ks = append(ks, scoring.PrefixUser+ids.UserID)
	}
	for _, e := range ids.Emails {
		ks = append(ks, scoring.PrefixEmail+e)
	}
	for _, a := range ids.AnonymousIDs {
		ks = append(ks, scoring.PrefixAnon+a)
	}
	return ks
}

// settle refreshes the counts for a draw at wall-clock time now.
func (d *session) settle(now time.Time) {
	d.Wall = now.Sub(d.began)
	d.SimTo = d.clock.ms.Load()
	d.Produced = d.sent.total()
	d.Consumed = d.counts.total.Load()
	d.Duplicates = d.counts.outcome("duplicate")
	d.Ignored = d.counts.outcome("ignored")
	d.DeadLetter = d.counts.dead.Load()
	for _, t := range topics.Inputs() {
		d.ByTopic[t] = d.counts.topic(t)
	}
	d.People = d.pace.people.Load()
	for _, e := range d.set.Engines() {
		name := e.Model().Name
		counts := d.ByModel[name]
		if counts == nil {
			counts = map[string]int{}
			d.ByModel[name] = counts
		}
		clear(counts)
		moved := 0
		for _, s := range d.stage[name] {
			counts[s]++
			moved++
		}
		// Leads that never changed stage are still in the first stage: every
		// simulated person is one lead once identities are stitched (an
		// estimate: some identities are never tied together).
		counts[e.Model().Stages[0].Name] += max(int(d.People)-moved, 0)
	}
	clear(d.Stages)
	for s, n := range d.ByModel[d.eng.Model().Name] {
		d.Stages[s] = n
	}
	clear(d.Accounts)
	for _, s := range d.accountStage {
		d.Accounts[s]++
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

// causeText renders a stage change's cause compactly: "trigger demo_request",
// "feedback rejected (no_budget)", "decay", "inactivity inactive_90d".
func causeText(c output.Cause) string {
	s := c.Kind
	switch {
	case c.Kind == "feedback":
		s += " " + c.Feedback
		if c.Reason != "" {
			s += " (" + c.Reason + ")"
		}
	case c.Kind == "merge":
		s += " of " + c.Rule
	case c.Rule != "":
		s += " " + c.Rule
	}
	return s
}

// tryID returns a lead id the API can answer for (the lead of the latest
// handoff, else any lead seen), or "" before there is one.
func (d *session) tryID() string {
	if len(d.ups) > 0 {
		return d.ups[len(d.ups)-1].lead
	}
	best := ""
	for id := range d.stage[d.eng.Model().Name] {
		if strings.HasPrefix(id, scoring.PrefixUser) && (best == "" || id < best) {
			best = id
		}
	}
	return best
}

package reliability

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/internal/journeys"
	"github.com/leadscore/leadscore/output"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/replay"
	"github.com/leadscore/leadscore/rules"
	"github.com/leadscore/leadscore/scoring"
)

var topics = processor.DefaultTopics()

// historyStart is when the generated history begins: in the future, so that the
// processors' decay timers, whose clock never runs ahead of the wall clock, never
// fall due during a run (see doc.go).
var historyStart = time.Date(2097, time.January, 7, 0, 0, 0, 0, time.UTC)

// record is one input record, with the partition it is produced to.
type record struct {
	Topic     string
	Partition int32
	Key       []byte
	Value     []byte
}

// workload is the generated log, how to feed it, and what the oracle says
// about it. It is built once per test binary and shared (read-only).
type workload struct {
	dir       string
	rulesFile string
	logFile   string
	eng       *scoring.Engine
	recs      []record
	// waves lists record indexes: within a wave, all records of one person are
	// on one topic-partition, in log order.
	waves [][]int
	// at is the instant the final states are compared at.
	at int64
	// want holds the oracle's stage changes by id (lead left at its last
	// event), leads its final lead lines at at.
	want  map[string]json.RawMessage
	leads map[string]replay.LeadLine
	// wantAccounts holds the oracle's account stage changes by id (each
	// account left at its last member update), accounts its final account
	// lines at at.
	wantAccounts map[string]json.RawMessage
	accounts     map[string]replay.AccountLine
	// backlog: one wave, fed without pacing (feedKind.Backlog).
	backlog bool
}

// abmRules are the rules the workload is scored with: the B2B example with
// accounts.
const abmRules = "../examples/rules/b2b-abm.yaml"

// feedKind says how the one generated log is fed.
type feedKind struct {
	// SplitStitches starts a new wave whenever a person's lead changes (an
	// identify or e-mail stitching a visitor into a lead), so that no polled
	// batch holds both a visitor's events and the event that absorbs the
	// visitor (see TestStitchInOneBatch for why).
	SplitStitches bool
	// ByPerson puts all records of one person on the same partition number of
	// each topic, instead of partitioning by key as senders do (see
	// TestZombieIsFenced for why).
	ByPerson bool
	// Backlog is the whole log in one wave, produced at once, as senders
	// key it, from at least backlogPeople people: what the processors must
	// merge by event time themselves.
	Backlog bool
}

// backlogPeople is how many people a Backlog workload follows at least.
const backlogPeople = 2000

// workloads caches the feeds of the log, by kind.
var (
	workMu    sync.Mutex
	workloads = map[feedKind]*workload{}
)

// theWorkload builds (once) the log, as senders partition it, and the
// oracle's answers.
func theWorkload(t *testing.T) *workload { return workloadOf(t, feedKind{SplitStitches: true}) }

// workloadOf builds (once per kind) the log and the oracle's answers.
func workloadOf(t *testing.T, kind feedKind) *workload {
	t.Helper()
	workMu.Lock()
	defer workMu.Unlock()
	if w := workloads[kind]; w != nil {
		return w
	}
	w, err := buildWorkload(kind)
	if err != nil {
		t.Fatal(err)
	}
	workloads[kind] = w
	return w
}

func buildWorkload(kind feedKind) (*workload, error) {
	dir, err := os.MkdirTemp("", "leadscore-reliability-log-")
	if err != nil {
		return nil, err
	}
	w := &workload{dir: dir, rulesFile: filepath.Join(dir, "rules.yaml"), logFile: filepath.Join(dir, "log.jsonl")}
	// The B2B model with accounts: the journeys' people work for companies,
	// so every scenario checks the account stage changes too.
	src, err := os.ReadFile(abmRules)
	if err != nil {
		return nil, err
	}
	if !kind.Backlog {
		// A live feed brings people's events out of order across people: an
		// account then hears of them in arrival order, and so would the
		// leads whose handoff reads their account (docs/models.md,
		// "Guarantees"). The lead checks stay exact without that handoff;
		// the backlog scenarios check it.
		if src, err = withoutAccountHandoff(src); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(w.rulesFile, src, 0o600); err != nil {
		return nil, err
	}
	m, err := rules.Load(w.rulesFile)
	if err != nil {
		return nil, err
	}
	if w.eng, err = scoring.NewEngine(m); err != nil {
		return nil, err
	}
	jc := journeys.Config{Seed: 7, Leads: size.Leads, Span: size.Span, Start: historyStart}
	if kind.Backlog {
		// Leads counts people arriving per year of history.
		jc.Leads = max(jc.Leads, int(backlogPeople*365*24/size.Span.Hours())+1)
		w.backlog = true
	}
	g, err := journeys.New(jc)
	if err != nil {
		return nil, err
	}
	dec, err := events.NewDecoder(events.Options{})
	if err != nil {
		return nil, err
	}
	var log bytes.Buffer
	var keys [][]string
	var leadOf []string // the oracle's lead of each record
	runner := replay.New(w.eng)
	uf := unionFind{}
	last := int64(0)
	for size.MaxEvents == 0 || len(w.recs) < size.MaxEvents {
		r, ok := g.Next()
		if !ok {
			break
		}
		topic := map[string]string{journeys.TopicWeb: topics.Web, journeys.TopicEmail: topics.Email,
			journeys.TopicFeedback: topics.Feedback}[r.Topic]
		h := fnv.New32a()
		h.Write(r.Key)
		w.recs = append(w.recs, record{Topic: topic, Partition: int32(h.Sum32() % uint32(size.Partitions)), Key: r.Key, Value: r.Value})
		log.Write(r.Value)
		log.WriteByte('\n')
		ev, err := dec.DecodeAny(r.Value)
		if err != nil {
			return nil, fmt.Errorf("generated record %d does not decode: %w", len(w.recs), err)
		}
		last = max(last, ev.Time)
		ks := ev.Identity.Keys()
		if ev.Identity.LeadID != "" {
			ks = append(ks, ev.Identity.LeadID)
		}
		for _, k := range ks[min(1, len(ks)):] {
			uf.union(ks[0], k)
		}
		keys = append(keys, ks)
		leadOf = append(leadOf, runner.Apply(&ev).Lead)
	}
	if err := os.WriteFile(w.logFile, log.Bytes(), 0o600); err != nil {
		return nil, err
	}
	// Waves: the i-th run (maximal stretch on one topic-partition) of every
	// person goes into wave i.
	runs := map[string]int{}
	at := map[string]string{}
	for i := range w.recs {
		r := &w.recs[i]
		root := "#orphan"
		if len(keys[i]) > 0 {
			root = uf.find(keys[i][0])
		}
		if kind.ByPerson {
			h := fnv.New32a()
			h.Write([]byte(root))
			r.Partition = int32(h.Sum32() % uint32(size.Partitions))
		}
		n := 0 // a backlog is one wave
		if !kind.Backlog {
			tp := fmt.Sprintf("%s/%d", r.Topic, r.Partition)
			if kind.SplitStitches {
				tp += " " + leadOf[i]
			}
			if at[root] != tp {
				at[root] = tp
				runs[root]++
			}
			n = runs[root] - 1
		}
		for len(w.waves) <= n {
			w.waves = append(w.waves, nil)
		}
		w.waves[n] = append(w.waves[n], i)
	}
	// The final instant: a day after the last event.
	w.at = last + int64(24*time.Hour/time.Millisecond)
	changes, err := runOracle(w, time.Time{})
	if err != nil {
		return nil, err
	}
	w.want, w.wantAccounts = map[string]json.RawMessage{}, map[string]json.RawMessage{}
	for _, l := range changes {
		var x struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		}
		if err := json.Unmarshal(l, &x); err != nil {
			return nil, err
		}
		switch x.Type {
		case "stage_change":
			w.want[x.ID] = l
		case "account_stage_change":
			w.wantAccounts[x.ID] = l
		}
	}
	final, err := runOracle(w, time.UnixMilli(w.at))
	if err != nil {
		return nil, err
	}
	w.leads, w.accounts = map[string]replay.LeadLine{}, map[string]replay.AccountLine{}
	for _, l := range final {
		var ll replay.LeadLine
		if err := json.Unmarshal(l, &ll); err != nil {
			return nil, err
		}
		switch ll.Type {
		case "lead":
			w.leads[ll.LeadID] = ll
		case "account":
			var al replay.AccountLine
			if err := json.Unmarshal(l, &al); err != nil {
				return nil, err
			}
			w.accounts[al.AccountID] = al
		}
	}
	return w, nil
}

// runOracle runs `leadscore score` on the log with every lead brought to at,
// and returns its output lines. With a zero at, no lead is moved past its last
// event (--no-advance): the stage changes are those the events cause.
func runOracle(w *workload, at time.Time) ([]json.RawMessage, error) {
	out := filepath.Join(w.dir, fmt.Sprintf("oracle-%d.jsonl", at.UnixMilli()))
	args := []string{"score", "--rules", w.rulesFile, "--events", w.logFile, "--strict", "--out", out}
	if at.IsZero() {
		args = append(args, "--no-advance")
	} else {
		args = append(args, "--at", at.UTC().Format(time.RFC3339Nano))
	}
	cmd := exec.Command(binary, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("leadscore score: %w\n%s", err, stderr.String())
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []json.RawMessage
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		lines = append(lines, json.RawMessage(bytes.Clone(sc.Bytes())))
	}
	return lines, sc.Err()
}

// unionFind groups identity keys connected through events.
type unionFind map[string]string

func (u unionFind) find(k string) string {
	for {
		p, ok := u[k]
		if !ok || p == k {
			return k
		}
		if gp, ok := u[p]; ok && gp != p {
			u[k] = gp
		}
		k = p
	}
}

func (u unionFind) union(a, b string) {
	ra, rb := u.find(a), u.find(b)
	if ra != rb {
		u[ra] = rb
	}
}

// liveLeadLine renders a stored lead the way the oracle renders its final lead
// lines, at instant at.
func liveLeadLine(eng *scoring.Engine, id string, identities []string, st *scoring.State, at int64) replay.LeadLine {
	eng.Advance(st, at)
	return replay.NewLeadLine(eng, id, output.IdentitiesFromKeys(identities), st, at)
}

// accountHandoff is the example's SQL alternative that reads the account.
var accountHandoff = regexp.MustCompile(`(?m)^ *- min_stage: mql .*\n *account_stage: mqa .*\n`)

// withoutAccountHandoff removes the example's account_stage alternative.
func withoutAccountHandoff(src []byte) ([]byte, error) {
	out := accountHandoff.ReplaceAll(src, nil)
	if len(out) == len(src) || bytes.Contains(out, []byte("account_stage")) {
		return nil, fmt.Errorf("%s: the account handoff alternative is not where the reliability workload expects it", abmRules)
	}
	return out, nil
}

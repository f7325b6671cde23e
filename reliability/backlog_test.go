package reliability

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// The whole log at once, keyed as senders key it (web by userId, else
// anonymousId; e-mail by address; feedback by lead), so that one person's
// events lie on several topics and partitions in whatever order the client
// fetches them: one processor, or three of which the one that owns the
// partitions is killed with SIGKILL mid-way and restarted, must emit exactly
// the oracle's stage changes and end with its states. The processors merge
// the partitions by event time themselves (the other tests feed waves that
// keep each person on one partition at a time).
func TestBacklogAsSendersKeyIt(t *testing.T) {
	t.Parallel()
	for _, v := range []struct {
		name    string
		opts    procOpts
		procs   int
		kill    bool
		cluster bool // the state in a 3-master Redis Cluster
	}{
		// The default is one lane per core: 2 on CI's machines, as below.
		{"franz-go-1-lane", procOpts{Lanes: 1}, 1, false, false},
		{"franz-go-2-lanes", procOpts{Lanes: 2}, 1, false, false},
		{"kafka-go", procOpts{Client: "kafka-go"}, 1, false, false},
		{"franz-go-killed", procOpts{}, 1, true, false},
		{"franz-go-3-processes-owner-killed", procOpts{}, 3, true, false},
		{"kafka-go-3-processes-owner-killed", procOpts{Client: "kafka-go"}, 3, true, false},
		{"franz-go-exactly-once", procOpts{ExactlyOnce: true}, 1, false, false},
		{"franz-go-exactly-once-3-processes-owner-killed", procOpts{ExactlyOnce: true}, 3, true, false},
		{"franz-go-3-processes-owner-killed-redis-cluster", procOpts{}, 3, true, true},
		{"kafka-go-3-processes-owner-killed-redis-cluster", procOpts{Client: "kafka-go"}, 3, true, true},
	} {
		t.Run(v.name, func(t *testing.T) {
			needScenario(t)
			t.Parallel()
			h := newHarnessOn(t, workloadOf(t, feedKind{Backlog: true}), v.cluster)
			// The whole log is in Kafka before any processor starts: records
			// produced while the processors are caught up would be live
			// traffic, where an event the log holds out of order is late.
			f := h.startFeed()
			for f.produced.Load() < int64(len(h.w.recs)) {
				if sleepCtx(h.ctx, 20*time.Millisecond) != nil {
					t.Fatalf("deadline with %d of %d records produced", f.produced.Load(), len(h.w.recs))
				}
			}
			start := func(i int) *member {
				o := v.opts
				o.Instance = fmt.Sprintf("p%d", i)
				return h.startProcessor(o)
			}
			var ps []*member
			for i := range v.procs {
				ps = append(ps, start(i))
			}
			faults := "none"
			if v.kill {
				// Kill the owner once it has committed part of the backlog.
				adm := kadm.NewClient(f.cl)
				for h.committed(adm) <= 0 {
					if sleepCtx(h.ctx, 20*time.Millisecond) != nil {
						t.Fatal("deadline before the first commit")
					}
				}
				owner := -1
				for i, p := range ps {
					if p.ownsPartitions() {
						owner = i
					}
				}
				if owner < 0 {
					t.Fatal("no processor owns partitions by its log, yet the group committed")
				}
				ps[owner].kill()
				ps[owner] = start(owner)
				faults = fmt.Sprintf("SIGKILL of the owner (p%d) after %d of %d records were committed, restarted", owner, h.committed(adm), len(h.w.recs))
			}
			if err := f.wait(); err != nil {
				t.Fatalf("feed: %v", err)
			}
			s := h.verify("backlog as senders key it; faults=" + faults)
			h.stopAll(ps...)
			if len(h.w.leads) < backlogPeople {
				t.Errorf("the backlog follows %d leads, want at least %d", len(h.w.leads), backlogPeople)
			}
			t.Logf("summary %s: %s", t.Name(), s)
		})
	}
}

// ownsPartitions reports whether the processor's log says it owns
// partitions: its last assignment line is not followed by a revocation or a
// loss.
func (p *member) ownsPartitions() bool {
	b, _ := os.ReadFile(p.logPath)
	assigned := bytes.LastIndex(b, []byte("partitions assigned"))
	gone := max(bytes.LastIndex(b, []byte("partitions revoked")), bytes.LastIndex(b, []byte("partitions lost")))
	return assigned > gone
}

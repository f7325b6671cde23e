package state_test

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/leadscore/leadscore/state"
)

// A processor's step for one event: resolve the identities, load the lead,
// skip the event if already applied, write the new state with its offset.
func Example() {
	mr, _ := miniredis.Run()
	defer mr.Close()
	ctx := context.Background()
	st, err := state.New(ctx, state.Options{Addrs: []string{mr.Addr()}, Buckets: 256, TimerShards: 16})
	if err != nil {
		panic(err)
	}
	defer st.Close()

	apply := func(topic string, partition int32, offset int64, anon, email string) {
		ids, _ := st.Resolve(ctx, []string{anon, email})
		lead := ids[anon] // home lead of the anonymous id, or where it was stitched
		recs, _ := st.Load(ctx, []string{lead})
		rec := recs[lead]
		if rec.Applied(topic, partition, offset) {
			fmt.Println("replay: nothing to add")
			return
		}
		points := len(rec.Data) + 1 // a toy engine: one byte per event
		res, _ := st.Write(ctx, []state.Update{{
			Base:       rec,
			Data:       make([]byte, points),
			Offsets:    map[string]int64{state.SourceKey(topic, partition): offset},
			Stage:      "lead",
			Rank:       float64(points),
			Deadline:   time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
			Identities: []string{anon, email},
		}})
		fmt.Println("applied:", res[0].Err == nil, "points:", points)
	}
	apply("web", 3, 41, "anon:v-1", "email:jane@example.com")
	apply("web", 3, 42, "anon:v-1", "email:jane@example.com")
	apply("web", 3, 42, "anon:v-1", "email:jane@example.com") // redelivered after a crash

	m, _ := st.Resolve(ctx, []string{"email:jane@example.com"})
	fmt.Println("e-mail resolves to the visitor's lead:", m["email:jane@example.com"] == state.HomeLeadID("anon:v-1"))
	top, _ := st.Top(ctx, "lead", 10)
	fmt.Println("top:", len(top), top[0].Rank)
	// Output:
	// applied: true points: 1
	// applied: true points: 2
	// replay: nothing to add
	// e-mail resolves to the visitor's lead: true
	// top: 1 2
}

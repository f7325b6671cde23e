package events_test

import (
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/leadscore/leadscore/events"
	"github.com/leadscore/leadscore/scoring"
)

func ExampleDecoder_Decode() {
	d, err := events.NewDecoder(events.Options{}) // defaults: 1 MiB, depth 32, years 2000–2100
	if err != nil {
		log.Fatal(err)
	}

	payload := []byte(`{"type":"track","messageId":"ajs-93ab51c0","anonymousId":"0b8e6c1e",
		"userId":"crm-004211","event":"Whitepaper Downloaded",
		"properties":{"content_id":"wp-2026-07","pages":12.0,"topics":["automation","crm"]},
		"context":{"page":{"url":"https://www.example.com/resources/automation-strategy?utm_source=newsletter"}},
		"timestamp":"2026-03-02T10:17:13.050+01:00"}`)
	ev, err := d.Decode(scoring.SourceWeb, payload)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ev.ID, ev.Source, ev.Kind, ev.Name)
	fmt.Println(time.UnixMilli(ev.Time).UTC().Format(time.RFC3339Nano))
	fmt.Println(ev.Identity.AnonymousID, ev.Identity.UserID, ev.Path)
	var props []string
	for _, p := range ev.Properties {
		props = append(props, p.Key+"="+p.Str)
	}
	fmt.Println(strings.Join(props, " "))

	// A rejected payload: the reason is the code written to the dead-letter topic.
	_, err = d.Decode(scoring.SourceWeb, []byte(`{"type":"track","event":"Demo Requested","timestamp":"2026-03-02T09:20:00Z"}`))
	var e *events.Error
	if errors.As(err, &e) {
		fmt.Println(e.Reason, e.Field)
		fmt.Println(err)
	}
	// Output:
	// ajs-93ab51c0 web track Whitepaper Downloaded
	// 2026-03-02T09:17:13.05Z
	// 0b8e6c1e crm-004211 /resources/automation-strategy
	// content_id=wp-2026-07 pages=12 topics=automation topics=crm
	// missing_identity userId
	// missing_identity: track needs anonymousId or userId
}

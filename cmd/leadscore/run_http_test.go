package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/leadscore/leadscore/internal/eventually"
	"github.com/leadscore/leadscore/internal/syncbuf"
)

// TestRunServesAPI runs `leadscore run` with the HTTP API on a free port and a
// bearer token, feeds it an identify that carries an e-mail address, and checks
// the API (auth, lead, readiness, erase), the /metrics series after that small
// run, and that the logs (info level, JSON) never show the address.
func TestRunServesAPI(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mr := miniredis.RunT(t)
	out, logs := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"run", "--rules", "../../examples/rules/b2b-saas.yaml", "--brokers", strings.Join(c.ListenAddrs(), ","),
			"--redis-addrs", mr.Addr(), "--create-topics", "--partitions", "2", "--timer-tick", "50ms",
			"--log-format", "json", "--log-level", "info", "--http-addr", "127.0.0.1:0", "--http-token", "s3cret"}, out, logs)
	}()
	stopped := false
	defer func() {
		if !stopped {
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
			<-done
		}
	}()
	addr := eventually.Match(t, logs, regexp.MustCompile(`"msg":"http api listening","addr":"(127\.0\.0\.1:\d+)"`), 20*time.Second)
	base := "http://" + addr

	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	identify := `{"type":"identify","userId":"u-77","anonymousId":"a-77","messageId":"m-77","timestamp":"2026-11-20T10:00:00Z",` +
		`"traits":{"email":"jane.doe@example.com"}}`
	demo := `{"type":"track","event":"Demo Requested","userId":"u-77","messageId":"m-78","timestamp":"2026-11-20T10:05:00Z"}`
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "tracking.web", Key: []byte("u-77"), Value: []byte(identify)},
		&kgo.Record{Topic: "tracking.web", Key: []byte("u-77"), Value: []byte(demo)}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	get := func(path, token string) (int, []byte) {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	// The lead appears once the processor has written it.
	var code int
	var body []byte
	for ctx.Err() == nil {
		if code, body = get("/v1/leads/email:jane.doe@example.com", "s3cret"); code == 200 && strings.Contains(string(body), `"stage":"sql"`) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var lead struct {
		LeadID string `json:"lead_id"`
		Stage  string `json:"stage"`
	}
	if err := json.Unmarshal(body, &lead); code != 200 || err != nil || lead.LeadID != "user:u-77" {
		t.Fatalf("GET lead: %d %s", code, body)
	}
	if code, body := get("/v1/leads/user:u-77", ""); code != 401 || !strings.Contains(string(body), `"unauthorized"`) {
		t.Errorf("without the token: %d %s", code, body)
	}
	if code, body := get("/readyz", ""); code != 200 || !strings.Contains(string(body), `"ready":true`) {
		t.Errorf("readyz: %d %s", code, body)
	}
	// The metrics follow the state write by a few milliseconds (produce, commit).
	want := []string{`leadscore_events_consumed_total{outcome="applied",topic="tracking.web"} 2`,
		`leadscore_stage_transitions_total{from="visitor",to="sql"} 1`, `leadscore_consumer_lag{partition="`,
		`leadscore_redis_round_trip_seconds_count{op="write"}`, `leadscore_batch_duration_seconds_count `, `leadscore_ready 1`,
		`messaging_kafka_connects_total`, `messaging_kafka_fetch_bytes_total`}
	var missing []string
	var metrics []byte
	for deadline := time.Now().Add(5 * time.Second); ; {
		code, metrics = get("/metrics", "")
		missing = missing[:0]
		for _, series := range want {
			if code != 200 || !strings.Contains(string(metrics), series) {
				missing = append(missing, series)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Errorf("/metrics lacks %v:\n%s", missing, metrics)
	}
	checkRunConsole(t, ctx, base, "s3cret")
	req, _ := http.NewRequestWithContext(ctx, "DELETE", base+"/v1/leads/email:jane.doe@example.com", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("DELETE: %v %v", resp, err)
	}
	resp.Body.Close()

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped = true
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; logs:\n%s", code, logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("run did not stop after SIGTERM")
	}
	l := logs.String()
	if !strings.Contains(l, `"msg":"lead erased"`) || strings.Contains(l, "jane.doe") || strings.Contains(l, "s3cret") {
		t.Errorf("logs show personal data or secrets, or miss the erasure:\n%s", l)
	}
}

// TestRunBindsHTTPBeforeJoiningTheGroup: a second instance started on a busy
// --http-addr fails at once with the address in its error, before it
// contacts Kafka: the broker never sees it join the consumer group, so the
// running members keep their partitions.
func TestRunBindsHTTPBeforeJoiningTheGroup(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "tracking.web", "tracking.email", "crm.feedback",
		"leads.stage-changes", "leads.dead-letter"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var joins, requests atomic.Int64
	c.ControlKey(int16(kmsg.JoinGroup), func(kmsg.Request) (kmsg.Response, error, bool) {
		joins.Add(1)
		c.KeepControl()
		return nil, nil, false
	})
	c.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		requests.Add(1)
		c.KeepControl()
		return nil, nil, false
	})
	mr := miniredis.RunT(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var out, logs bytes.Buffer
	start := time.Now()
	code := run([]string{"run", "--rules", "../../examples/rules/b2b-saas.yaml", "--brokers", strings.Join(c.ListenAddrs(), ","),
		"--redis-addrs", mr.Addr(), "--log-format", "json", "--http-addr", busy.Addr().String()}, &out, &logs)
	took := time.Since(start)
	if code != 1 || !strings.Contains(logs.String(), busy.Addr().String()) || !strings.Contains(logs.String(), "address already in use") {
		t.Fatalf("exit %d, want 1 with the busy address in the error; stderr:\n%s", code, logs.String())
	}
	// A client left behind would go on joining in the background: give it
	// the time to.
	time.Sleep(300 * time.Millisecond)
	if n := joins.Load(); n != 0 {
		t.Errorf("the instance sent %d JoinGroup requests before failing on its HTTP address", n)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("the instance sent %d Kafka requests before failing on its HTTP address", n)
	}
	if took > 5*time.Second {
		t.Errorf("failing on a busy port took %v", took)
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/leadscore/leadscore/internal/testpki"
)

// parseBrokerArgs parses `leadscore broker ARGS` as the CLI does (defaults,
// environment, Validate) and returns the command.
func parseBrokerArgs(t *testing.T, args ...string) (*brokerCmd, error) {
	t.Helper()
	var c cli
	p, err := kong.New(&c, kong.Name("leadscore"), kongVars("test"), kong.Exit(func(int) { t.Fatal("kong exited") }))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Parse(append([]string{"broker"}, args...))
	return &c.Broker, err
}

// brokerFirstLine is an io.Writer for serve's stdout that hands its first line over.
type brokerFirstLine struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	once sync.Once
	line chan string
}

func newBrokerFirstLine() *brokerFirstLine { return &brokerFirstLine{line: make(chan string, 1)} }

func (w *brokerFirstLine) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if i := bytes.IndexByte(w.buf.Bytes(), '\n'); i >= 0 {
		w.once.Do(func() { w.line <- string(w.buf.Bytes()[:i]) })
	}
	return len(p), nil
}

// startTestBroker serves c until the test ends (or stop is called) and returns
// the addresses it printed and a stop function returning serve's error.
func startTestBroker(t *testing.T, c *brokerCmd) (addrs []string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := newBrokerFirstLine()
	done := make(chan error, 1)
	go func() { done <- c.serve(ctx, &env{stdout: out, stderr: io.Discard}) }()
	var once sync.Once
	var serr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case serr = <-done:
			case <-time.After(30 * time.Second):
				serr = context.DeadlineExceeded
			}
		})
		return serr
	}
	t.Cleanup(func() { _ = stop() })
	select {
	case l := <-out.line:
		return strings.Split(l, ","), stop
	case err := <-done:
		t.Fatalf("broker stopped before printing its address: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("broker printed no address within 30 s")
	}
	return nil, stop
}

// Flag combinations that cannot work are refused before anything starts.
func TestBrokerValidate(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string // "" = accepted
	}{
		{"defaults", nil, ""},
		{"persistent", []string{"--data-dir", t.TempDir(), "--sync-writes"}, ""},
		{"sasl with password file", []string{"--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", "u", "--sasl-password-file", pwFile}, ""},
		{"sync without dir", []string{"--sync-writes"}, "--sync-writes needs --data-dir"},
		{"no brokers", []string{"--brokers", "0"}, "--brokers must be at least 1"},
		{"no partitions", []string{"--partitions", "0"}, "--partitions must be at least 1"},
		{"ports overflow", []string{"--port", "65535", "--brokers", "2"}, "within 1..65535"},
		{"sasl without user", []string{"--sasl-mechanism", "PLAIN"}, "--sasl-mechanism needs --sasl-user"},
		{"sasl without password", []string{"--sasl-mechanism", "PLAIN", "--sasl-user", "u"}, "--sasl-mechanism needs --sasl-user and a password"},
		{"user without mechanism", []string{"--sasl-user", "u", "--sasl-password", "p"}, "need --sasl-mechanism"},
		{"unknown mechanism", []string{"--sasl-mechanism", "GSSAPI", "--sasl-user", "u", "--sasl-password", "p"}, "must be one of"},
		{"cert without key", []string{"--tls-cert", pwFile}, "--tls-cert needs --tls-key"},
		{"zero session timeout", []string{"--min-session-timeout", "0s"}, "--min-session-timeout must be positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseBrokerArgs(t, c.args...)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %q, want %q", err, c.want)
			}
		})
	}
	// Through the CLI: a usage error exits 2 and says why.
	var out, errb bytes.Buffer
	if code := run([]string{"broker", "--sync-writes"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--sync-writes needs --data-dir") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

// The broker prints its address first, seeds the topics with the partitions
// asked, and speaks Kafka: a record produced is consumed back, a group commits.
func TestBrokerServesSeededTopics(t *testing.T) {
	c, err := parseBrokerArgs(t, "--topics", "in,out", "--partitions", "3", "--brokers", "2", "--min-session-timeout", "500ms")
	if err != nil {
		t.Fatal(err)
	}
	addrs, stop := startTestBroker(t, c)
	if len(addrs) != 2 {
		t.Fatalf("addresses %v, want 2", addrs)
	}
	cl := brokerTestClient(t, addrs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	td, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"in", "out"} {
		if d, ok := td[name]; !ok || len(d.Partitions) != 3 {
			t.Errorf("topic %s: %+v, want 3 partitions", name, d)
		}
	}
	if _, ok := td["tracking.web"]; ok {
		t.Error("--topics replaces the default topics, but tracking.web exists")
	}
	brokerRoundTrip(ctx, t, addrs, nil, "in", "hello")
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// With --data-dir and --sync-writes, records and committed group offsets
// survive a restart on the same port.
func TestBrokerPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	c, err := parseBrokerArgs(t, "--data-dir", dir, "--sync-writes", "--partitions", "2")
	if err != nil {
		t.Fatal(err)
	}
	addrs, stop := startTestBroker(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	brokerRoundTrip(ctx, t, addrs, nil, "tracking.web", "kept")
	cl := brokerTestClient(t, addrs)
	adm := kadm.NewClient(cl)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "tracking.web", Partition: 1, At: 1})
	if _, err := adm.CommitOffsets(ctx, "g", offs); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addrs[0])
	c2, err := parseBrokerArgs(t, "--data-dir", dir, "--sync-writes", "--port", port, "--partitions", "5")
	if err != nil {
		t.Fatal(err)
	}
	addrs2, _ := startTestBroker(t, c2)
	if addrs2[0] != addrs[0] {
		t.Fatalf("restarted on %s, want %s", addrs2[0], addrs[0])
	}
	got := brokerConsume(ctx, t, addrs2, nil, "tracking.web", 1)
	if len(got) != 1 || got[0] != "kept" {
		t.Fatalf("after restart: %q, want [kept]", got)
	}
	cl2 := brokerTestClient(t, addrs2)
	fo, err := kadm.NewClient(cl2).FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fo.Lookup("tracking.web", 1); !ok || o.At != 1 {
		t.Fatalf("committed offset after restart: %+v %v, want 1", o, ok)
	}
	td, err := kadm.NewClient(cl2).ListTopics(ctx, "tracking.web")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(td["tracking.web"].Partitions); n != 2 {
		t.Fatalf("after restart tracking.web has %d partitions, want the persisted 2", n)
	}
}

// TLS with the given certificate, and SASL with each mechanism: the right
// password works, a wrong one is refused.
func TestBrokerTLSAndSASL(t *testing.T) {
	pki := testpki.New(t)
	certFile, keyFile, pool := pki.ServerCertFile, pki.ServerKeyFile, pki.Pool
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			pwFile := filepath.Join(t.TempDir(), "pw")
			if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := parseBrokerArgs(t, "--tls-cert", certFile, "--tls-key", keyFile, "--sasl-mechanism", mech,
				"--sasl-user", "dev", "--sasl-password-file", pwFile, "--topics", "t", "--partitions", "1")
			if err != nil {
				t.Fatal(err)
			}
			addrs, _ := startTestBroker(t, c)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tlsOpt := kgo.DialTLSConfig(&tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
			auth := func(pw string) kgo.Opt {
				switch mech {
				case "PLAIN":
					return kgo.SASL(plain.Auth{User: "dev", Pass: pw}.AsMechanism())
				case "SCRAM-SHA-256":
					return kgo.SASL(scram.Auth{User: "dev", Pass: pw}.AsSha256Mechanism())
				}
				return kgo.SASL(scram.Auth{User: "dev", Pass: pw}.AsSha512Mechanism())
			}
			brokerRoundTrip(ctx, t, addrs, []kgo.Opt{tlsOpt, auth("s3cret")}, "t", "secure "+mech)
			bad := brokerTestClient(t, addrs, tlsOpt, auth("wrong"))
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			defer pcancel()
			if err := bad.Ping(pctx); err == nil {
				t.Fatal("a wrong password was accepted")
			}
			plainText := brokerTestClient(t, addrs, auth("s3cret"))
			pctx2, pcancel2 := context.WithTimeout(ctx, 3*time.Second)
			defer pcancel2()
			if err := plainText.Ping(pctx2); err == nil {
				t.Fatal("a client without TLS was accepted")
			}
		})
	}
}

func brokerTestClient(t *testing.T, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// brokerRoundTrip produces value to topic and reads the topic back until it is seen.
func brokerRoundTrip(ctx context.Context, t *testing.T, addrs []string, opts []kgo.Opt, topic, value string) {
	t.Helper()
	p := brokerTestClient(t, addrs, opts...)
	if err := p.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte(value)}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	for _, v := range brokerConsume(ctx, t, addrs, opts, topic, 1) {
		if v == value {
			return
		}
	}
	t.Fatalf("%q not consumed back from %s", value, topic)
}

func brokerConsume(ctx context.Context, t *testing.T, addrs []string, opts []kgo.Opt, topic string, atLeast int) []string {
	t.Helper()
	c := brokerTestClient(t, addrs, append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	var got []string
	for len(got) < atLeast {
		fs := c.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consuming %s: %v (got %q)", topic, err, got)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/leadscore/leadscore/internal/syncbuf"
	"github.com/leadscore/leadscore/processor/franzgo"
)

// leadscore run with every secret set (Kafka SASL/SCRAM password from a file,
// Redis ACL password from the environment, API token from a flag), at debug
// level, processing an event that carries an e-mail address: the secrets
// work (the broker and Redis require them, the API checks the token), and
// neither they nor the e-mail address ever reach the logs.
func TestRunNeverLogsSecrets(t *testing.T) {
	const (
		kafkaPass = "kafka-pw-7f3a9c"
		redisPass = "redis-pw-41d2e8"
		httpToken = "http-token-c0ffee"
		email     = "claire.secret@acme.example"
	)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "leadscore", kafkaPass))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mr := miniredis.RunT(t)
	mr.RequireUserAuth("scorer", redisPass)
	pwFile := filepath.Join(t.TempDir(), "kafka-password")
	if err := os.WriteFile(pwFile, []byte(kafkaPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LEADSCORE_REDIS_PASSWORD", redisPass)
	brokers := strings.Join(c.ListenAddrs(), ",")
	var out bytes.Buffer
	errb := &syncbuf.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"run", "--rules", "../../replay/testdata/stories.yaml", "--brokers", brokers,
			"--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "leadscore", "--sasl-password-file", pwFile,
			"--redis-addrs", mr.Addr(), "--redis-user", "scorer", "--http-token", httpToken,
			"--create-topics", "--partitions", "1", "--timer-tick", "50ms", "--log-format", "json", "--log-level", "debug",
			"--http-addr", "127.0.0.1:0"}, &out, errb)
	}()
	stopped := false
	defer func() {
		if !stopped {
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
			<-done
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	auth := scram.Auth{User: "leadscore", Pass: kafkaPass}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.SASL(auth.AsSha256Mechanism()),
		kgo.ConsumeTopics("leads.stage-changes"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	now := time.Now().UTC()
	ts := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	for _, v := range []string{
		`{"type":"identify","messageId":"s1","anonymousId":"a-claire","userId":"crm-9","traits":{"email":"` + email + `"},"timestamp":"` + ts(-2*time.Minute) + `"}`,
		`{"type":"track","messageId":"s2","userId":"crm-9","event":"Demo Requested","timestamp":"` + ts(-time.Minute) + `"}`,
	} {
		// The topics appear once run has created them.
		for {
			err := cl.ProduceSync(ctx, &kgo.Record{Topic: "tracking.web", Key: []byte("claire"), Value: []byte(v)}).FirstErr()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("produce: %v; stderr:\n%s", err, errb.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var got []string
	for len(got) < 1 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) < 1 || !strings.Contains(got[0], `"to":"sql"`) {
		t.Fatalf("stage changes: %v; stderr:\n%s", got, errb.String())
	}
	// The API: the token is required and accepted; the lead is found by e-mail.
	addr := regexp.MustCompile(`"msg":"http api listening","addr":"([^"]+)"`).FindStringSubmatch(errb.String())
	if addr == nil {
		t.Fatalf("no http api address in the logs:\n%s", errb.String())
	}
	for _, c := range []struct {
		token string
		want  int
	}{{"", 401}, {"wrong", 401}, {httpToken, 200}} {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr[1]+"/v1/leads/email:"+email, nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET with token %q: %d %s, want %d", c.token, resp.StatusCode, body, c.want)
		}
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if code := <-done; code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, errb.String())
	}
	logs := errb.String() + out.String()
	if !strings.Contains(logs, `"level":"DEBUG"`) {
		t.Fatalf("no debug logs: the check below would prove nothing:\n%s", logs)
	}
	for _, s := range []string{kafkaPass, redisPass, httpToken, email, "claire.secret"} {
		if strings.Contains(logs, s) {
			t.Errorf("the logs contain %q:\n%s", s, logs)
		}
	}
}

// A wrong password is reported without being echoed.
func TestRunWrongPasswordNotEchoed(t *testing.T) {
	const wrong = "not-the-password-93b1"
	mr := miniredis.RunT(t)
	mr.RequireUserAuth("scorer", "the-password")
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out, errb bytes.Buffer
	code := run([]string{"run", "--rules", "../../replay/testdata/stories.yaml", "--brokers", strings.Join(c.ListenAddrs(), ","),
		"--redis-addrs", mr.Addr(), "--redis-user", "scorer", "--redis-password", wrong, "--http-addr", ""}, &out, &errb)
	if code == 0 {
		t.Fatal("run accepted a wrong Redis password")
	}
	if !strings.Contains(strings.ToLower(errb.String()), "redis") || strings.Contains(errb.String()+out.String(), wrong) {
		t.Errorf("want a Redis error without the password; stderr:\n%s", errb.String())
	}
}

// TestRunExplainsConnectionFailures: a refused Kafka SASL login, a refused
// Redis AUTH and a TLS handshake with a server without TLS each end `run` with
// an error that says so, naming the mechanism and user but never the password;
// a missing Redis says it once per layer; go-redis's own log lines come
// through the JSON log, so every line of stderr but the last is JSON.
func TestRunExplainsConnectionFailures(t *testing.T) {
	const kafkaPass, redisPass, wrong = "kafka-right-8d1", "redis-right-5c2", "wrong-pass-77f0"
	mr := miniredis.RunT(t)
	mr.RequireUserAuth("scorer", redisPass)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "leadscore", kafkaPass),
		kfake.SeedTopics(1, "tracking.web", "tracking.email", "crm.feedback", "leads.stage-changes", "leads.dead-letter"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	base := []string{"run", "--rules", "../../replay/testdata/stories.yaml", "--brokers", strings.Join(c.ListenAddrs(), ","),
		"--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "leadscore", "--http-addr", "", "--log-format", "json"}
	redisOK := []string{"--redis-addrs", mr.Addr(), "--redis-user", "scorer", "--redis-password", redisPass}
	// go-redis's default logger writes to the process's stderr, where no
	// assertion sees it: this one fails the test if run does not replace it.
	redis.SetLogger(printfFail{t})
	t.Cleanup(func() { redis.SetLogger(printfDiscard{}) })
	for _, tc := range []struct {
		name    string
		args    []string
		want    string
		wantLog string
	}{
		{"kafka sasl", append(append([]string{"--sasl-password", wrong}, redisOK...), "--create-topics"),
			`SASL SCRAM-SHA-256 authentication as user "leadscore" failed`, ""},
		{"kafka sasl, topics checked", append([]string{"--sasl-password", wrong}, redisOK...),
			`SASL SCRAM-SHA-256 authentication as user "leadscore" failed`, ""},
		{"redis auth", []string{"--sasl-password", kafkaPass, "--redis-addrs", mr.Addr(), "--redis-user", "scorer", "--redis-password", wrong},
			`redis ` + mr.Addr() + `: authentication as user "scorer" failed`, ""},
		{"redis tls", []string{"--sasl-password", kafkaPass, "--redis-addrs", mr.Addr(), "--redis-tls"},
			`redis ` + mr.Addr() + `: TLS handshake failed`, ""},
		{"redis down", []string{"--sasl-password", kafkaPass, "--redis-addrs", "127.0.0.1:1"},
			`leadscore: state: connect: redis unavailable: dial tcp 127.0.0.1:1`, `"msg":"redis client"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(append(base, tc.args...), &out, &errb); code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, errb.String())
			}
			lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "leadscore: ") || !strings.Contains(last, tc.want) {
				t.Errorf("last line %q, want it to contain %q", last, tc.want)
			}
			if strings.Count(last, "redis unavailable") > 1 || strings.Count(last, "state:") > 1 {
				t.Errorf("a layer's prefix repeats: %q", last)
			}
			for _, l := range lines[:len(lines)-1] {
				if !json.Valid([]byte(l)) {
					t.Errorf("stderr line outside the JSON log: %q", l)
				}
			}
			if !strings.Contains(errb.String(), tc.wantLog) {
				t.Errorf("the log lacks %s:\n%s", tc.wantLog, errb.String())
			}
			if strings.Contains(errb.String()+out.String(), wrong) || strings.Contains(errb.String(), kafkaPass) ||
				strings.Contains(errb.String(), redisPass) {
				t.Errorf("a password was echoed:\n%s", errb.String())
			}
		})
	}
}

// printfFail fails the test on any go-redis log line that reaches it.
type printfFail struct{ t *testing.T }

func (p printfFail) Printf(_ context.Context, format string, v ...any) {
	p.t.Errorf("go-redis logged outside the command's log: "+format, v...)
}

// printfDiscard drops go-redis log lines.
type printfDiscard struct{}

func (printfDiscard) Printf(context.Context, string, ...any) {}

// TestExplainTLSTimeout: a dial that timed out while a plain TCP connection
// to the broker opens is a TLS handshake with a listener without TLS; a
// broker that is not there stays a plain timeout.
func TestExplainTLSTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	timeout := fmt.Errorf("list topics: unable to dial: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded})
	var te *franzgo.TLSError
	if err := explainTLSTimeout(timeout, []string{deadAddr, ln.Addr().String()}); !errors.As(err, &te) ||
		!strings.Contains(err.Error(), "TLS handshake") || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("listener up: %v", err)
	}
	if err := explainTLSTimeout(timeout, []string{deadAddr}); err != timeout {
		t.Errorf("nothing listening: %v", err)
	}
	if other := errors.New("dial: connection refused"); explainTLSTimeout(other, []string{ln.Addr().String()}) != other {
		t.Error("an error that is not a timeout was explained")
	}
}

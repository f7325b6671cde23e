package kafkatest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/testpki"
	"github.com/leadscore/leadscore/processor"
	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Security is how a client under RunSecurity reaches the cluster.
type Security struct {
	// CAFile is a PEM file with the CA that signed the brokers' certificate.
	CAFile string
	// ServerName is the name in the brokers' certificate ("localhost").
	ServerName string
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string
	// User and Password are the SASL credentials.
	User     string
	Password string
}

// Apply sets cfg's TLS and SASL settings to reach the cluster as sec says.
func (sec Security) Apply(cfg *kafkaconfig.Config) {
	cfg.TLS = &kafkaconfig.TLSConfig{CAFile: sec.CAFile, ServerName: sec.ServerName}
	cfg.SASL = &kafkaconfig.SASLConfig{Mechanism: sec.Mechanism, User: sec.User, Password: sec.Password}
}

// NewSecureClientFunc builds a client that uses sec. It should fail the test when
// the configuration is refused; a wrong password must only show once the client
// talks to the cluster (Ready or Poll fail).
type NewSecureClientFunc func(t *testing.T, brokers []string, group string, topics []string, sec Security) processor.Client

// TestCA is a throwaway certificate authority and a server certificate it signed
// for localhost and 127.0.0.1.
type TestCA struct {
	// CAFile is the CA certificate in PEM, in a temporary directory.
	CAFile string
	// Server is a TLS config serving the signed certificate.
	Server *tls.Config
	// Pool holds the CA, for clients.
	Pool *x509.CertPool
}

// NewTestCA generates a CA and a server certificate valid for one hour.
func NewTestCA(t testing.TB) TestCA {
	t.Helper()
	p := testpki.New(t)
	return TestCA{CAFile: p.CAFile, Pool: p.Pool, Server: p.ServerConfig(false)}
}

// RunSecurity checks that the backend reaches a TLS + SASL cluster with each
// mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512): it consumes, commits and
// produces; and that a wrong password is reported by Ready.
func RunSecurity(t *testing.T, newClient NewSecureClientFunc) {
	ca := NewTestCA(t)
	users := map[string][2]string{
		"PLAIN":         {"plain-user", "plain-secret"},
		"SCRAM-SHA-256": {"scram256-user", "scram256-secret"},
		"SCRAM-SHA-512": {"scram512-user", "scram512-secret"},
	}
	opts := []kfake.Opt{kfake.TLS(ca.Server), kfake.EnableSASL()}
	for mech, up := range users {
		opts = append(opts, kfake.Superuser(mech, up[0], up[1]))
	}
	c := NewCluster(t, []Topic{{"in", 2}, {"out", 2}}, opts...)
	brokers := c.ListenAddrs()
	up := users["SCRAM-SHA-256"]
	admin := []kgo.Opt{
		kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}),
		kgo.SASL(scram.Auth{User: up[0], Pass: up[1]}.AsSha256Mechanism()),
	}

	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			up := users[mech]
			sec := Security{CAFile: ca.CAFile, ServerName: "localhost", Mechanism: mech, User: up[0], Password: up[1]}
			recs := inputs(6, "in")
			for _, r := range recs {
				r.Value = append([]byte(mech+":"), r.Value...)
			}
			in := Produce(t, brokers, recs, admin...)
			cl := newClient(t, brokers, "g-"+mech, []string{"in"}, sec)
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = cl.Close(ctx)
			}()
			ctx := testCtx(t, 30*time.Second)
			if err := cl.Ready(ctx); err != nil {
				t.Fatalf("ready: %v", err)
			}
			// Each subtest's group starts at the beginning: it also sees earlier
			// subtests' records.
			missing := map[string]bool{}
			for _, v := range kvalues(in) {
				missing[v] = true
			}
			for len(missing) > 0 {
				recs, err := cl.Poll(ctx)
				if err != nil {
					t.Fatalf("poll over TLS+%s, %d records missing: %v", mech, len(missing), err)
				}
				for _, r := range recs {
					delete(missing, string(r.Value))
				}
				if err := cl.Commit(ctx); err != nil {
					t.Fatalf("commit: %v", err)
				}
			}
			if err := cl.Produce(ctx, []processor.Record{{Topic: "out", Key: []byte(mech), Value: []byte("via " + mech)}}); err != nil {
				t.Fatalf("produce: %v", err)
			}
			out := Consume(t, brokers, "out", true, 1, 300*time.Millisecond, admin...)
			if !slices.ContainsFunc(out, func(r *kgo.Record) bool { return string(r.Value) == "via "+mech }) {
				t.Fatalf("record produced over TLS+%s not found", mech)
			}
		})
	}

	t.Run("WrongPassword", func(t *testing.T) {
		sec := Security{CAFile: ca.CAFile, ServerName: "localhost", Mechanism: "SCRAM-SHA-256", User: up[0], Password: "wrong"}
		cl := newClient(t, brokers, "g-wrong", []string{"in"}, sec)
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = cl.Close(ctx)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cl.Ready(ctx); err == nil {
			t.Fatal("Ready succeeded with a wrong password")
		} else {
			t.Logf("Ready with a wrong password: %v", err)
		}
	})
}

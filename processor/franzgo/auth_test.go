package franzgo_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/leadscore/leadscore/processor/franzgo"
	"github.com/leadscore/leadscore/processor/kafkaconfig"
	"github.com/leadscore/leadscore/processor/kafkatest"
)

// TestAuthFailureIsExplained: a wrong SASL password, against a broker that
// closes the connection (kfake) rather than answering, fails the admin helpers
// and the group member with an *AuthError naming the mechanism and the user,
// never the password (it used to be a bare "EOF"); the right password works
// through the same wrapped mechanism.
func TestAuthFailureIsExplained(t *testing.T) {
	const right, wrong = "right-secret-17", "wrong-secret-42"
	opts := []kfake.Opt{kfake.EnableSASL(), kfake.SeedTopics(1, "in")}
	for _, m := range []string{kafkaconfig.MechanismPlain, kafkaconfig.MechanismScramSHA256, kafkaconfig.MechanismScramSHA512} {
		opts = append(opts, kfake.Superuser(m, "u-"+m, right))
	}
	c := kafkatest.NewCluster(t, nil, opts...)
	brokers := c.ListenAddrs()
	for _, mech := range []string{kafkaconfig.MechanismPlain, kafkaconfig.MechanismScramSHA256, kafkaconfig.MechanismScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cfg := franzgo.Config{Config: kafkaconfig.Config{Brokers: brokers, Group: "g", InputTopics: []string{"in"},
				SASL: &kafkaconfig.SASLConfig{Mechanism: mech, User: "u-" + mech, Password: wrong}}}
			conn, err := cfg.ConnOpts()
			if err != nil {
				t.Fatal(err)
			}
			err = franzgo.CheckTopics(ctx, brokers, []string{"in"}, conn...)
			var ae *franzgo.AuthError
			if !errors.As(err, &ae) || ae.Mechanism != mech || ae.User != "u-"+mech {
				t.Fatalf("CheckTopics with a wrong password: %v, want an AuthError for %s as u-%s", err, mech, mech)
			}
			msg := err.Error()
			if !strings.Contains(msg, "authentication") || !strings.Contains(msg, mech) || !strings.Contains(msg, `"u-`+mech+`"`) || strings.Contains(msg, wrong) {
				t.Errorf("message %q: want the mechanism and user, never the password", msg)
			}
			if err := franzgo.EnsureTopics(ctx, brokers, []franzgo.TopicSpec{{Name: "in"}}, conn...); !errors.As(err, &ae) {
				t.Errorf("EnsureTopics with a wrong password: %v, want an AuthError", err)
			}
			cl, err := franzgo.New(ctx, cfg)
			if err == nil {
				err = cl.Ready(ctx)
				_ = cl.Close(ctx)
			}
			if !errors.As(err, &ae) {
				t.Errorf("the group member with a wrong password: %v, want an AuthError", err)
			}

			cfg.SASL.Password = right
			if conn, err = cfg.ConnOpts(); err != nil {
				t.Fatal(err)
			}
			if err := franzgo.CheckTopics(ctx, brokers, []string{"in"}, conn...); err != nil {
				t.Errorf("CheckTopics with the right password: %v", err)
			}
		})
	}
}

// TestExplainConnError: broker error codes and TLS failures get their
// explanation; other errors, and errors already explained, pass unchanged.
func TestExplainConnError(t *testing.T) {
	s := &kafkaconfig.SASLConfig{Mechanism: "scram-sha-256", User: "scorer", Password: "pw-31"}
	refused := fmt.Errorf("list topics: %w", kerr.SaslAuthenticationFailed)
	var ae *franzgo.AuthError
	if err := franzgo.ExplainConnError(refused, s, false); !errors.As(err, &ae) || ae.Mechanism != "SCRAM-SHA-256" || ae.User != "scorer" ||
		!errors.Is(err, kerr.SaslAuthenticationFailed) || strings.Contains(err.Error(), "pw-31") {
		t.Errorf("SASL_AUTHENTICATION_FAILED: %v", err)
	}
	if err := franzgo.ExplainConnError(refused, nil, false); err != refused {
		t.Errorf("without SASL configured: %v", err)
	}
	if err := franzgo.ExplainConnError(ae, s, true); err != error(ae) {
		t.Errorf("an AuthError is explained again: %v", err)
	}
	hs := fmt.Errorf("dial: %w", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"})
	var te *franzgo.TLSError
	if err := franzgo.ExplainConnError(hs, nil, true); !errors.As(err, &te) || !strings.Contains(err.Error(), "TLS handshake") {
		t.Errorf("TLS record header error: %v", err)
	}
	if err := franzgo.ExplainConnError(hs, nil, false); err != hs {
		t.Errorf("TLS not configured: %v", err)
	}
	if err := franzgo.ExplainConnError(io.EOF, s, true); err != io.EOF {
		t.Errorf("a bare EOF is not explained here (the client recognises it): %v", err)
	}
}

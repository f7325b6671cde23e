package franzgo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/leadscore/leadscore/internal/tlsfiles"
	"github.com/leadscore/leadscore/processor/kafkaconfig"
)

// AuthError is the error of a connection the brokers refused to authenticate:
// wrong user or password, or a mechanism the brokers do not enable. It names
// the mechanism and the user, never the password. Err is what the broker said
// (kerr.SaslAuthenticationFailed), or says that it closed the connection
// instead of answering, as kfake does.
type AuthError struct {
	Mechanism string
	User      string
	Err       error
}

// Error says what failed, as which user, with which mechanism.
func (e *AuthError) Error() string {
	return fmt.Sprintf("SASL %s authentication as user %q failed (wrong user or password, or a mechanism the brokers do not enable): %v",
		e.Mechanism, e.User, e.Err)
}

// Unwrap returns what the broker said.
func (e *AuthError) Unwrap() error { return e.Err }

// TLSError is the error of a TLS handshake with the brokers that failed: a
// broker that does not speak TLS on that port, a certificate the CA bundle
// does not sign, or a server name that does not match.
type TLSError struct {
	Err error
}

// Error says that the handshake failed and what to check.
func (e *TLSError) Error() string {
	return fmt.Sprintf("TLS handshake with the brokers failed (is TLS enabled on that listener, and does --kafka-tls-ca sign its certificate?): %v", e.Err)
}

// Unwrap returns the handshake's error.
func (e *TLSError) Unwrap() error { return e.Err }

// ExplainConnError returns err as an *AuthError when it says that the
// brokers refused sasl's credentials, as a *TLSError when a TLS handshake
// failed (tlsOn: TLS is configured), and unchanged otherwise. Errors already
// explained are returned as they are. The client built from ConnOpts
// recognises a broker that closes the connection during authentication by
// itself; this covers the brokers that answer with an error code.
func ExplainConnError(err error, s *kafkaconfig.SASLConfig, tlsOn bool) error {
	var ae *AuthError
	var te *TLSError
	if err == nil || errors.As(err, &ae) || errors.As(err, &te) {
		return err
	}
	if s != nil && (errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.UnsupportedSaslMechanism) ||
		errors.Is(err, kerr.IllegalSaslState)) {
		return &AuthError{Mechanism: strings.ToUpper(s.Mechanism), User: s.User, Err: err}
	}
	if tlsOn && tlsfiles.IsHandshakeError(err) {
		return &TLSError{Err: err}
	}
	return err
}

// authWatch wraps a SASL mechanism to tell a refused authentication from a
// network error. A broker may close the connection instead of answering a
// bad SASLAuthenticate (kfake does); franz-go then sees a bare io.EOF, retries
// on a new connection and, when that fails alike, returns the EOF. authWatch
// is also a hook that notes a failed SASL exchange, and makes the next
// authentication attempt fail with an *AuthError carrying it, which franz-go
// does not retry: the caller learns that authentication failed, as which user
// and how.
//
// A failure is reported once: the attempt after it authenticates anew, so a
// connection lost mid-authentication (a broker restart) costs one failed
// request, which callers retry, not a stuck client.
type authWatch struct {
	sasl.Mechanism
	user   string
	failed atomic.Pointer[error]
}

var (
	_ kgo.HookBrokerRead  = (*authWatch)(nil)
	_ kgo.HookBrokerWrite = (*authWatch)(nil)
)

// Authenticate implements sasl.Mechanism.
func (w *authWatch) Authenticate(ctx context.Context, host string) (sasl.Session, []byte, error) {
	if p := w.failed.Swap(nil); p != nil {
		return nil, nil, &AuthError{Mechanism: w.Name(), User: w.user, Err: *p}
	}
	return w.Mechanism.Authenticate(ctx, host)
}

// OnBrokerRead implements kgo.HookBrokerRead.
func (w *authWatch) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	w.note(key, err)
}

// OnBrokerWrite implements kgo.HookBrokerWrite.
func (w *authWatch) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	w.note(key, err)
}

func (w *authWatch) note(key int16, err error) {
	if err == nil || (key != int16(kmsg.SASLAuthenticate) && key != int16(kmsg.SASLHandshake)) {
		return
	}
	// The cause is kept as text only: franz-go retries errors that wrap
	// io.EOF, and an AuthError must end the request, not be retried.
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("the broker closed the connection during authentication (%v)", err)
	} else {
		err = errors.New(err.Error())
	}
	w.failed.Store(&err)
}

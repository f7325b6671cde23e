package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestIsHandshakeError(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("dial: %w", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), true},
		{fmt.Errorf("dial: %w", tls.AlertError(42)), true},
		{&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, true},
		{fmt.Errorf("x: %w", x509.HostnameError{Host: "h"}), true},
		{io.EOF, false},
		{errors.New("connection refused"), false},
		{nil, false},
	} {
		if got := IsHandshakeError(c.err); got != c.want {
			t.Errorf("IsHandshakeError(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

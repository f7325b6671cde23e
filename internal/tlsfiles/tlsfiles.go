// Package tlsfiles builds a *tls.Config from PEM files: the form in which every
// leadscore connection (Kafka brokers, Redis) takes its TLS settings.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Files configures TLS from PEM files.
type Files struct {
	// CAFile is a PEM bundle of the CAs that sign the server certificates.
	// Empty: the system roots.
	CAFile string
	// CertFile and KeyFile are the client certificate and its key for mutual
	// TLS; both or neither.
	CertFile string
	KeyFile  string
	// ServerName overrides the host name checked in the server certificates.
	ServerName string
	// InsecureSkipVerify disables certificate verification. Tests only.
	InsecureSkipVerify bool
}

// Build loads the files into a *tls.Config (TLS 1.2 at least). A nil *Files
// means no TLS and builds nil.
func (f *Files) Build() (*tls.Config, error) {
	if f == nil {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         f.ServerName,
		InsecureSkipVerify: f.InsecureSkipVerify, //nolint:gosec // opt-in, documented as tests only
	}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: no PEM certificate in CA file %s", f.CAFile)
		}
		tc.RootCAs = pool
	}
	if f.CertFile != "" || f.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: load client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// IsHandshakeError reports whether err comes from a failed TLS handshake: a
// peer that does not speak TLS (a record that is not a handshake), an alert,
// or a certificate that does not verify (unknown authority, invalid, wrong
// host name). Callers use it to say so instead of passing the bare cause on.
func IsHandshakeError(err error) bool {
	var (
		rh    tls.RecordHeaderError
		alert tls.AlertError
		cv    *tls.CertificateVerificationError
		ua    x509.UnknownAuthorityError
		ci    x509.CertificateInvalidError
		he    x509.HostnameError
	)
	return errors.As(err, &rh) || errors.As(err, &alert) || errors.As(err, &cv) || errors.As(err, &ua) ||
		errors.As(err, &ci) || errors.As(err, &he)
}

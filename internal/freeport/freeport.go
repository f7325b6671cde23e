// Package freeport finds a free loopback TCP port for a server a test or the
// bench is about to start (redis-server, a processor's HTTP API).
package freeport

import (
	"fmt"
	"net"
)

// Get returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process may take it before the caller binds it: good enough for tests.
func Get() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("freeport: listening on a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

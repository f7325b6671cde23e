package freeport_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/leadscore/leadscore/internal/freeport"
)

func TestGet(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
	}{
		{"one", 1},
		{"several", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range tc.n {
				port, err := freeport.Get()
				if err != nil {
					t.Fatal(err)
				}
				if port <= 0 || port > 65535 {
					t.Fatalf("port %d", port)
				}
				l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
				if err != nil {
					t.Fatalf("port %d is not free: %v", port, err)
				}
				l.Close()
			}
		})
	}
}

package functest

import (
	"net"
	"testing"
)

// ClosedAddr is a local host:port nothing listens on: connecting to it is
// refused at once (a database or a gateway that is down).
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ln.Close()
	return ln.Addr().String()
}

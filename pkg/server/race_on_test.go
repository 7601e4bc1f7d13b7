//go:build race

package server_test

// tricklers is how many slow clients TestBodyTimeout opens: fewer under
// the race detector, which allows 8,128 goroutines in all.
const tricklers = 500

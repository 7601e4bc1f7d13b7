//go:build !race

package server_test

// tricklers is how many slow clients TestBodyTimeout opens: as many as the
// probe that found the defect.
const tricklers = 2000

package plugin

import (
	"crypto/rand"
	"fmt"
)

// NewUUID returns a random lower-case UUID version 4, what JavaScript's
// crypto.randomUUID() gives: the format of the device ids plugins send
// (the plugin's DeviceIdHelper), for tools and tests that act as a device, and
// of the request ids Hono makes.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

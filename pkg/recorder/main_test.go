package recorder

import (
	"testing"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
)

// The benchmarks write to a real database.
func TestMain(m *testing.M) { pgtest.Main(m) }

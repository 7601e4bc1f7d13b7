package readmodel_test

import (
	"testing"

	"github.com/capgo-functions/capgo-functions/internal/testenv/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

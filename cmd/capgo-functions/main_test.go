package main

import (
	"testing"

	"github.com/capgo-functions/capgo-functions/pkg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

# capgo-functions — see README.md.
GO       ?= go
BIN      := bin/capgo-functions
ADDR     ?= 127.0.0.1:54321
# dev PostgreSQL's port on 127.0.0.1 (make dev)
DEV_PG_PORT ?= 54339
# make dev's admin listener (metrics, probes); empty turns it off
ADMIN_ADDR ?= $(or $(CAPGO_ADMIN_ADDR),127.0.0.1:9091)

.PHONY: all build dev admin run test test-short test-read-model-off test-pgbouncer test-race fuzz lint bench bench-compare load clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/capgo-functions

## dev: private PostgreSQL (on DEV_PG_PORT) with the migrations and demo
##       seed, server on ADDR (0.0.0.0:54321 for devices on the network),
##       metrics and probes on ADMIN_ADDR; a taken port is reported first;
##       Ctrl-C stops both
# capgo-dev is built and run directly: `go run` exits 1 on Ctrl-C even
# when the program it ran exited 0, and make would report that.
dev: build
	$(GO) build -o bin/capgo-dev ./cmd/capgo-dev
	./bin/capgo-dev -port $(DEV_PG_PORT) -addr $(ADDR) -admin-addr '$(ADMIN_ADDR)' -- ./$(BIN) serve --addr $(ADDR) --admin-addr='$(ADMIN_ADDR)' --proxy=false

## admin: an admin command against the make dev database and bundle folder
##       (make dev must be running), e.g. make admin ARGS="app create --app-id com.example.app"
##       or ARGS="bundle upload --app-id com.example.app --version 1.0.0 --zip dist.zip --channel production"
# capgo-dev's database: "capgo" on DEV_PG_PORT, user postgres, trust
# authentication on 127.0.0.1 (no password); its bundle folder: -bundles'
# default. S3_ENDPOINT is cleared so a bucket in the environment cannot
# take the upload.
DEV_DATABASE_URL ?= postgresql://postgres@127.0.0.1:$(DEV_PG_PORT)/capgo?sslmode=disable
DEV_FILES_DIR    ?= .dev/bundles
admin: build
	DATABASE_URL='$(DEV_DATABASE_URL)' CAPGO_FILES_DIR='$(DEV_FILES_DIR)' S3_ENDPOINT= ./$(BIN) admin $(ARGS)

## run: serve against $$DATABASE_URL (default: supabase start's database on :54322)
run: build
	./$(BIN) serve --addr $(ADDR)

## test: every test, against a throwaway PostgreSQL and S3 server; prints
##       go test's ok/FAIL lines, then every skipped test with its reason
test:
	$(GO) run ./internal/testsummary $(GO) test -count=1 -json ./...

test-short:
	$(GO) test -count=1 -short ./...

## test-read-model-off: the functions' conformance suites on the database store
##       alone (make test runs them through the read model, the default)
test-read-model-off:
	CAPGO_TEST_READ_MODEL=off $(GO) test -count=1 ./functions/...

## test-pgbouncer: the conformance suites with every pool behind a real
##       PgBouncer in transaction mode (apt-get install pgbouncer); the read
##       model's listener on the direct connection
test-pgbouncer:
	PGTEST_POOLER=pgbouncer $(GO) test -count=1 ./functions/... ./pkg/store/...
	PGTEST_POOLER=pgbouncer $(GO) test -count=1 -run 'Conformance/defaults|AnotherApp' ./pkg/readmodel/

## test-race: the packages with concurrency under the race detector
RACE_PKGS ?= ./pkg/recorder/... ./pkg/ratelimit/... ./pkg/bundleurl/... ./pkg/gateway/... ./pkg/readmodel/... ./pkg/notify/... ./pkg/server/... ./pkg/clientaddr/... ./pkg/logctx/...
test-race:
	$(GO) test -count=1 -race $(RACE_PKGS)

## fuzz: every Go fuzz target for FUZZTIME each (seeds in testdata/fuzz also
##       run as plain tests under make test). The default is a count of
##       executions, not a duration: with a duration, Go 1.26's fuzz
##       coordinator can read its own -fuzztime deadline as an error and fail
##       a target with a bare "context deadline exceeded" and no failing input
##       (golang/go#75804, fixed in Go 1.27). A count sets no deadline.
FUZZTIME ?= 20000x
FUZZ_TARGETS ?= ./functions/files:FuzzKey ./functions/files:FuzzRange ./pkg/plugin:FuzzParseJSONEvents ./pkg/plugin:FuzzParsePluginBody ./functions/updates:FuzzUpdates ./functions/stats:FuzzStats ./functions/channel_self:FuzzChannelSelf ./pkg/server:FuzzRouter
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "fuzz $$name in $$pkg for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg; done

## lint: gofmt, go vet and staticcheck (when installed)
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null 2>&1; then staticcheck ./...; else echo "staticcheck not installed (go install honnef.co/go/tools/cmd/staticcheck@v0.8.2): skipped"; fi

## bench: Go benchmarks (the write path: queue, WriteBatch, recorder → PostgreSQL) on a throwaway PostgreSQL
BENCH      ?= .
BENCH_PKGS ?= ./...
bench:
	$(GO) test -count=1 -run '^$$' -bench '$(BENCH)' -benchmem $(BENCH_PKGS)

## bench-compare: in one run, a bare net/http handler (the ceiling) and the
##       real server against a throwaway PostgreSQL, loaded by wrk with the same
##       bodies; prints req/s, p50/p99, ratio to the ceiling, RSS, freshness.
##       Needs wrk (apt-get install wrk). E.g. make bench-compare COMPARE_FLAGS="-duration 5s"
COMPARE_FLAGS ?=
bench-compare: build
	$(GO) run ./cmd/capgo-bench -server ./$(BIN) $(COMPARE_FLAGS)

## load: load a server already running on loopback (make dev in another terminal), e.g.
##       make load LOAD_FLAGS="-n 50000 -c 64 -duration 30s -stats 0.2"
LOAD_URL   ?= http://$(ADDR)
LOAD_FLAGS ?=
load:
	$(GO) run ./cmd/capgo-load -url $(LOAD_URL) $(LOAD_FLAGS)

clean:
	rm -rf bin

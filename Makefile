# capgo-functions — see README.md.
GO       ?= go
BIN      := bin/capgo-functions
ADDR     ?= 127.0.0.1:54321

.PHONY: all build dev run test test-short lint bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/capgo-functions

## dev: private PostgreSQL with the migrations and demo seed, server on :54321
dev: build
	$(GO) run ./cmd/capgo-dev -- ./$(BIN) serve --addr $(ADDR)

## run: serve against $$DATABASE_URL (default: supabase start's database on :54322)
run: build
	./$(BIN) serve --addr $(ADDR)

## test: every test, against a throwaway PostgreSQL and S3 server
test:
	$(GO) test -count=1 ./...

test-short:
	$(GO) test -count=1 -short ./...

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin

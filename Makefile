# lastmile: the two commands a new user needs are `make demo` and `make test`.
.PHONY: demo test build bench fuzz

demo:
	go run ./cmd/lastmile demo

test:
	./scripts/test.sh

build:
	go build -o lastmile ./cmd/lastmile

bench:
	go test -run '^$$' -bench . -benchmem ./...

# Short fuzz runs of every fuzz target; FUZZTIME=5m for longer.
FUZZTIME ?= 20s
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

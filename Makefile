# lungctl — the commands the README promises. `make help` lists them.
GO      ?= go
BIN     ?= bin/lungctl
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: help build test test-full vet gofmt lint lint-tools vet-cuda bench bench-peers demo fuzz model ptx build-cuda gpu-test clean

help:
	@echo "make build      build $(BIN) (pure Go, no cgo, no GPU)"
	@echo "make demo       synthetic patients through the whole pipeline (the README's first command)"
	@echo "make test       the test suite CI runs (fast path, go test -short)"
	@echo "make test-full  every test, including the slow real-data and training ones"
	@echo "make lint       gofmt -l, staticcheck $(STATICCHECK_VERSION), golangci-lint $(GOLANGCI_LINT_VERSION) (.golangci.yml), files <= $(MAX_FILE_LINES) lines"
	@echo "make lint-tools install the pinned linters into $(LINT_TOOLS)/ (go install; CI runs it)"
	@echo "make bench      go test -bench over the stage packages (real data from ../shared)"
	@echo "make bench-peers  the same run side by side with the peer tools (needs ../shared/peers/INSTALL.sh)"
	@echo "make fuzz       each fuzz target for FUZZTIME (default 3m)"
	@echo "make model      retrain the embedded default CNN model reproducibly"
	@echo "make vet-cuda   go vet (and build) with the lungcuda tag: cgo, cuda.h, libcuda (scripts/install-cuda-build-deps.sh --no-nvcc;"
	@echo "                CI runs both: ~100 s install + ~70 s cold vet/build, well inside its 90 minutes)"
	@echo "make ptx        regenerate the CUDA kernel's PTX (needs nvcc: scripts/install-cuda-build-deps.sh)"
	@echo "make build-cuda bin/lungctl-cuda with the lungcuda tag (cgo, libcuda; runs only where a GPU is)"
	@echo "make gpu-test   bin/cluster-cuda.test for scripts/gpu-check.sh on a GPU machine"

build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/lungctl

test:
	$(GO) vet ./...
	$(GO) test -short -count=1 ./...

test-full:
	$(GO) test -count=1 -timeout 30m ./...

vet: gofmt
	$(GO) vet ./...

# The linters, pinned so that CI and every developer get the same findings.
# Each version is installed with `go install` from the Go module proxy into
# its own folder under $(LINT_TOOLS), so changing a version here reinstalls.
STATICCHECK_VERSION   := v0.8.2
GOLANGCI_LINT_VERSION := v2.15.0
LINT_TOOLS    := bin/tools
STATICCHECK   := $(LINT_TOOLS)/staticcheck-$(STATICCHECK_VERSION)/staticcheck
GOLANGCI_LINT := $(LINT_TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint
# The project's file-length rule (split a longer file by topic).
MAX_FILE_LINES := 700

$(STATICCHECK):
	GOBIN=$(abspath $(dir $@)) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(GOLANGCI_LINT):
	GOBIN=$(abspath $(dir $@)) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

lint-tools: $(STATICCHECK) $(GOLANGCI_LINT)

# gofmt -l lists every file whose formatting differs; any is a failure.
gofmt:
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt -l: not gofmt-formatted:"; echo "$$out"; exit 1; fi

# Over the whole module, tests included; clean is the only passing state.
# Every check runs even when an earlier one fails, so one run lists all.
lint: lint-tools
	@st=0; \
	$(MAKE) --no-print-directory gofmt || st=1; \
	long=$$(find . -name '*.go' -not -path './.git/*' | xargs wc -l | awk '$$2 != "total" && $$1 > $(MAX_FILE_LINES) {print $$2 ": " $$1 " lines"}'); \
	if [ -n "$$long" ]; then echo "Go files over $(MAX_FILE_LINES) lines:"; echo "$$long"; st=1; fi; \
	echo "$(STATICCHECK) ./..."; $(STATICCHECK) ./... || st=1; \
	echo "$(GOLANGCI_LINT) run ./..."; $(GOLANGCI_LINT) run ./... || st=1; \
	exit $$st

# The lungcuda packages (internal/cluster/cuda, cmd/lungctl's tagged import):
# vet builds them, so this needs cgo, /usr/include/cuda.h and libcuda.so.
vet-cuda:
	CGO_ENABLED=1 $(GO) vet -tags lungcuda ./...
	CGO_ENABLED=1 $(GO) build -tags lungcuda -o /dev/null ./cmd/lungctl

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./internal/...

bench-peers: build
	bash scripts/bench-peers.sh

demo: build
	$(BIN) demo

FUZZTIME ?= 3m
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

# the embedded default's recipe, through the same entry point as lungctl train
# (classify/train.Run); the card records this version and the settings
model:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/lungctl train -o internal/classify/model/default.lcnn \
		--source phantom --n 1200 --neg 0.2 --val 0.2 --seed 1 --channels 8,16,32 \
		--epochs 10 --batch 32 --lr 0.002 --patience 3 --grad-parts 8 \
		--note "regenerate with: make model"

ptx:
	nvcc -ptx -arch=compute_70 -O3 -o internal/cluster/cuda/kernels/meanshift.ptx internal/cluster/cuda/kernels/meanshift.cu

build-cuda:
	CGO_ENABLED=1 $(GO) build -tags lungcuda -ldflags "$(LDFLAGS)" -o bin/lungctl-cuda ./cmd/lungctl

gpu-test:
	CGO_ENABLED=1 $(GO) test -c -tags lungcuda -o bin/cluster-cuda.test ./internal/cluster/cuda/

clean:
	rm -rf bin

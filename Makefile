# lungctl — the commands the README promises. `make help` lists them.
GO      ?= go
BIN     ?= bin/lungctl
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: help build test test-full vet vet-cuda bench bench-peers demo fuzz model ptx build-cuda gpu-test clean

help:
	@echo "make build      build $(BIN) (pure Go, no cgo, no GPU)"
	@echo "make demo       synthetic patients through the whole pipeline (the README's first command)"
	@echo "make test       the test suite CI runs (fast path, go test -short)"
	@echo "make test-full  every test, including the slow real-data and training ones"
	@echo "make bench      go test -bench over the stage packages (real data from ../shared)"
	@echo "make bench-peers  the same run side by side with the peer tools (needs ../shared/peers/INSTALL.sh)"
	@echo "make fuzz       each fuzz target for FUZZTIME (default 3m)"
	@echo "make model      retrain the embedded default CNN model reproducibly"
	@echo "make vet-cuda   go vet (and build) with the lungcuda tag: cgo, cuda.h, libcuda (scripts/install-cuda-build-deps.sh)"
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

vet:
	gofmt -l . | tee /dev/stderr | (! read)
	$(GO) vet ./...

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

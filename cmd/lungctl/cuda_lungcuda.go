//go:build lungcuda

package main

// A lungcuda build registers the CUDA mean-shift backends ("cuda",
// "cuda-brute") with package cluster.
import _ "github.com/lungctl/lungctl/internal/cluster/cuda"

package cluster

import (
	"math/rand"
	"testing"

	"github.com/lungctl/lungctl/internal/cluster/cells"
	"github.com/lungctl/lungctl/internal/par"
)

// TestBoxTable checks the open-addressing table against a Go map: keys
// inserted with publish (serially and with 1–3 goroutines: the first pair
// of a key wins, keys already present keep their id; the worker budget
// set to 1–3), through shard growth
// from a tiny initial size, for hash sharding and for spatial sharding of
// reuse keys; then getOrPutH, and lookups of absent keys.
func TestBoxTable(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	ri := cells.Quant{Dim: 5, Bits: 12}
	saved := par.Limit()
	defer par.SetLimit(saved)
	for _, spatial := range []bool{false, true} {
		for _, workers := range []int{1, 2, 3} {
			par.SetLimit(workers)
			var tb *boxTable
			if spatial {
				tb = newReuseTable(10, &ri)
			} else {
				tb = newBoxTable(10)
			}
			want := map[uint64]int32{}
			var scratch []boxKV
			for round := 0; round < 5; round++ {
				kv := make([]boxKV, 3000+rng.Intn(6000))
				for i := range kv {
					// Clustered keys (as paths are), with repeats.
					k := uint64(rng.Intn(40)) << 48
					k |= uint64(rng.Intn(64))<<36 | uint64(rng.Intn(64))<<24 | uint64(rng.Intn(200))
					kv[i] = boxKV{k, int32(rng.Intn(1 << 20))}
				}
				for _, p := range kv {
					if _, ok := want[p.key]; !ok {
						want[p.key] = p.id
					}
				}
				scratch = tb.publish(kv, scratch)
			}
			n := 0
			for i := range tb.shards {
				n += tb.shards[i].n
				if 2*tb.shards[i].n > len(tb.shards[i].slots) {
					t.Fatalf("shard %d more than half full: %d of %d", i, tb.shards[i].n, len(tb.shards[i].slots))
				}
			}
			if n != len(want) {
				t.Fatalf("spatial %v workers %d: %d keys stored, want %d", spatial, workers, n, len(want))
			}
			for k, id := range want {
				if got, ok := tb.get(k); !ok || got != id {
					t.Fatalf("spatial %v workers %d: key %x: %d %v, want %d", spatial, workers, k, got, ok, id)
				}
				if got, ok := tb.getOrPutH(k, boxHash(k), -5); !ok || got != id {
					t.Fatalf("getOrPutH of present key %x: %d %v, want %d", k, got, ok, id)
				}
			}
			for i := 0; i < 1000; i++ {
				k := uint64(rng.Int63()) | 1<<62 // outside the inserted range
				if _, ok := tb.get(k); ok {
					t.Fatalf("absent key %x found", k)
				}
				if got, ok := tb.getOrPutH(k, boxHash(k), int32(i)); ok || got != int32(i) {
					t.Fatalf("getOrPutH of new key %x: %d %v", k, got, ok)
				}
				if got, ok := tb.get(k); !ok || got != int32(i) {
					t.Fatalf("key %x after getOrPutH: %d %v", k, got, ok)
				}
			}
		}
	}
}

package phantom

import (
	"path/filepath"
	"testing"

	"github.com/lungctl/lungctl/internal/volume"
)

func benchGenerate(b *testing.B, s Size) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Generate(Options{Seed: int64(i), Size: s}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGenerateSmall: 128×128×64 phantom with 3–6 nodules.
func BenchmarkGenerateSmall(b *testing.B) { benchGenerate(b, Small) }

// BenchmarkGenerateFull: 512×512×130–159 phantom with 3–6 nodules.
func BenchmarkGenerateFull(b *testing.B) { benchGenerate(b, Full) }

// BenchmarkPatch32 and BenchmarkPatch64: one training patch into a reused
// buffer.
func BenchmarkPatch32(b *testing.B) { benchPatch(b, 32) }
func BenchmarkPatch64(b *testing.B) { benchPatch(b, 64) }

func benchPatch(b *testing.B, size int) {
	dst := volume.New[int16](PatchGrid(size))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		PatchInto(dst, int64(i), Kinds[i%len(Kinds)], 5+float64(i%20), i%2 == 0)
	}
}

// BenchmarkWriteDICOMSmall: writing a Small series (64 files).
func BenchmarkWriteDICOMSmall(b *testing.B) {
	c, err := Generate(Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := WriteDICOM(filepath.Join(dir, "s"), c); err != nil {
			b.Fatal(err)
		}
	}
}

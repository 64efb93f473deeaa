package cpufeat

import (
	"os"
	"runtime"
	"strings"
	"testing"
)

// TestAVX2FMAMatchesProcCPUInfo compares the CPUID answer with the flags the
// Linux kernel lists in /proc/cpuinfo (an independent reading of the same
// CPU); it skips where that file does not exist.
func TestAVX2FMAMatchesProcCPUInfo(t *testing.T) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skipf("no /proc/cpuinfo: %v", err)
	}
	var flags []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "flags") {
			if i := strings.IndexByte(line, ':'); i >= 0 {
				flags = strings.Fields(line[i+1:])
			}
			break
		}
	}
	if flags == nil {
		t.Skip("/proc/cpuinfo lists no flags")
	}
	has := func(f string) bool {
		for _, g := range flags {
			if g == f {
				return true
			}
		}
		return false
	}
	want := runtime.GOARCH == "amd64" && has("avx2") && has("fma")
	if AVX2FMA != want {
		t.Errorf("AVX2FMA = %v, /proc/cpuinfo says avx2 %v fma %v", AVX2FMA, has("avx2"), has("fma"))
	}
}

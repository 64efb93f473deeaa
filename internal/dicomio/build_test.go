package dicomio

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"sync/atomic"
	"testing"
	"time"
)

// This file writes small DICOM files for the tests: Explicit VR Little
// Endian (optionally another transfer syntax UID in the meta group), the
// elements given, then the pixel data, native or encapsulated.

// elem is one data element to write.
type elem struct {
	g, e uint16
	vr   string
	val  []byte
}

func text(g, e uint16, vr, s string) elem {
	if len(s)%2 == 1 {
		if vr == "UI" {
			s += "\x00"
		} else {
			s += " "
		}
	}
	return elem{g, e, vr, []byte(s)}
}

func us(g, e uint16, v uint16) elem {
	return elem{g, e, "US", binary.LittleEndian.AppendUint16(nil, v)}
}

// appendElem writes one explicit-VR little-endian element header and value.
func appendElem(b []byte, x elem, undefined bool) []byte {
	le := binary.LittleEndian
	b = le.AppendUint16(le.AppendUint16(b, x.g), x.e)
	b = append(b, x.vr...)
	switch x.vr {
	case "OB", "OW", "SQ", "UN", "UT", "OF", "OD", "OL":
		b = le.AppendUint16(b, 0)
		if undefined {
			return le.AppendUint32(b, 0xFFFFFFFF)
		}
		b = le.AppendUint32(b, uint32(len(x.val)))
	default:
		b = le.AppendUint16(b, uint16(len(x.val)))
	}
	return append(b, x.val...)
}

// ctSlice is the header of one CT slice: patient, study and series, a
// rows×cols matrix of 16-bit signed samples at z (mm), axial, 0.7 mm
// pixels, slope 1 intercept −1024. Entries of over replace or add
// elements (same tag).
func ctSlice(patient, series string, rows, cols int, z float64, over ...elem) []elem {
	es := []elem{
		text(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.2"),
		text(0x0008, 0x0018, "UI", fmt.Sprintf("1.2.3.%d.%d", rows, int(z*10+5000))),
		text(0x0008, 0x0060, "CS", "CT"),
		text(0x0010, 0x0020, "LO", patient),
		text(0x0020, 0x000D, "UI", "1.2.3.4"),
		text(0x0020, 0x000E, "UI", series),
		text(0x0020, 0x0032, "DS", fmt.Sprintf("-100\\-100\\%g", z)),
		text(0x0020, 0x0037, "DS", "1\\0\\0\\0\\1\\0"),
		us(0x0028, 0x0002, 1),
		text(0x0028, 0x0004, "CS", "MONOCHROME2"),
		us(0x0028, 0x0010, uint16(rows)),
		us(0x0028, 0x0011, uint16(cols)),
		text(0x0028, 0x0030, "DS", "0.7\\0.7"),
		us(0x0028, 0x0100, 16),
		us(0x0028, 0x0101, 16),
		us(0x0028, 0x0102, 15),
		us(0x0028, 0x0103, 1),
		text(0x0028, 0x1052, "DS", "-1024"),
		text(0x0028, 0x1053, "DS", "1"),
	}
	for _, o := range over {
		replaced := false
		for i := range es {
			if es[i].g == o.g && es[i].e == o.e {
				es[i], replaced = o, true
			}
		}
		if !replaced {
			es = append(es, o)
		}
	}
	sort.Slice(es, func(a, b int) bool { return uint32(es[a].g)<<16|uint32(es[a].e) < uint32(es[b].g)<<16|uint32(es[b].e) })
	return es
}

// dcmBytes builds a whole file: preamble, meta group with transfer syntax
// ts, the elements and, when pixels is non-nil, the pixel data: native
// (one OW value) or, with frags, encapsulated (empty offset table, one
// item per fragment, sequence delimiter).
func dcmBytes(ts string, es []elem, pixels []byte, frags [][]byte) []byte {
	b := make([]byte, 128, 1024+len(pixels))
	b = append(b, "DICM"...)
	tsv := text(0x0002, 0x0010, "UI", ts)
	meta := appendElem(nil, tsv, false)
	b = appendElem(b, elem{0x0002, 0x0000, "UL", binary.LittleEndian.AppendUint32(nil, uint32(len(meta)))}, false)
	b = append(b, meta...)
	for _, x := range es {
		b = appendElem(b, x, false)
	}
	switch {
	case frags != nil:
		le := binary.LittleEndian
		b = appendElem(b, elem{0x7FE0, 0x0010, "OB", nil}, true)
		b = le.AppendUint32(le.AppendUint16(le.AppendUint16(b, 0xFFFE), 0xE000), 0)
		for _, f := range frags {
			b = le.AppendUint32(le.AppendUint16(le.AppendUint16(b, 0xFFFE), 0xE000), uint32(len(f)))
			b = append(b, f...)
		}
		b = le.AppendUint32(le.AppendUint16(le.AppendUint16(b, 0xFFFE), 0xE0DD), 0)
	case pixels != nil:
		b = appendElem(b, elem{0x7FE0, 0x0010, "OW", pixels}, false)
	}
	return b
}

// writeSeries writes n slices 1.25 mm apart of a rows×cols test pattern
// into dir/name-%03d.dcm and returns their paths; mod may change each
// slice's elements.
func writeSeries(t testing.TB, dir, name, patient, series string, n, rows, cols int, mod func(k int) []elem) []string {
	t.Helper()
	var out []string
	for k := 0; k < n; k++ {
		var over []elem
		if mod != nil {
			over = mod(k)
		}
		es := ctSlice(patient, series, rows, cols, float64(k)*1.25, over...)
		pix := make([]byte, 2*rows*cols)
		for p := 0; p < rows*cols; p++ {
			binary.LittleEndian.PutUint16(pix[2*p:], uint16(int16(p%700+k)))
		}
		p := filepath.Join(dir, fmt.Sprintf("%s-%03d.dcm", name, k))
		if err := os.WriteFile(p, dcmBytes(tsExplicitLE, es, pix, nil), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// allocDuring runs f and returns the bytes it allocated (runtime.MemStats
// TotalAlloc growth, all goroutines).
func allocDuring(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// peakDuring runs f and returns the most heap it held at once above what
// was in use before (runtime.MemStats HeapAlloc, sampled every
// millisecond while f runs).
func peakDuring(f func()) uint64 {
	// HeapAlloc counts garbage not yet collected; at the default GOGC the
	// heap may grow to twice what is live before a collection, and more
	// when other test packages keep the CPUs busy and the collector lags
	// (one full run measured 143 MB against the usual 45–65 MB). Collect
	// early while measuring, so the peak is close to what f keeps live.
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	base := m.HeapAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var s runtime.MemStats
		for {
			runtime.ReadMemStats(&s)
			if s.HeapAlloc > base && s.HeapAlloc-base > peak.Load() {
				peak.Store(s.HeapAlloc - base)
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	f()
	close(done)
	<-stopped
	return peak.Load()
}

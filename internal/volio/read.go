package volio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/klauspost/compress/gzip"

	"github.com/lungctl/lungctl/internal/hounsfield"
	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/safefile"
	"github.com/lungctl/lungctl/internal/volume"
	"github.com/lungctl/lungctl/internal/warn"
)

// ReadHU reads a CT volume in Hounsfield units from .nii, .nii.gz, .mhd or
// .mha: any stored datatype is scaled (NIfTI scl_slope/scl_inter when slope
// is non-zero), rounded to the nearest integer and clamped to int16. A
// volume holding NaN or infinite values is refused (ErrNonFinite): lungctl
// does not guess what they stand for; so is one more than
// hounsfield.MaxSaturated of whose voxels had to be clamped
// (hounsfield.ErrSaturated: an scl_slope of 10³⁰, uint64 samples of 2⁶³).
// Values are not otherwise changed: padding is left for
// hounsfield.Normalize. The grid is in LPS mm; the voxels are checked
// against the memory budget before they are allocated.
func ReadHU(path string) (*volume.Volume[int16], error) {
	var v *volume.Volume[int16]
	_, err := readAny(path, func(g volume.Grid) []int16 {
		v = volume.New[int16](g)
		return v.Data
	})
	return v, err
}

// ReadMask reads a label volume (mask: 0 outside, non-zero inside) from
// .nii, .nii.gz, .mhd or .mha; values are rounded and clamped to 0…255, NaN
// becomes 0. The grid is in LPS mm.
func ReadMask(path string) (*volume.Volume[uint8], error) {
	var v *volume.Volume[uint8]
	_, err := readAny(path, func(g volume.Grid) []uint8 {
		v = volume.New[uint8](g)
		return v.Data
	})
	return v, err
}

// ReadFloat32 reads a volume as float32 (scaled by scl_slope/scl_inter when
// present) from .nii, .nii.gz, .mhd or .mha. The grid is in LPS mm.
func ReadFloat32(path string) (*volume.Volume[float32], error) {
	var v *volume.Volume[float32]
	_, err := readAny(path, func(g volume.Grid) []float32 {
		v = volume.New[float32](g)
		return v.Data
	})
	return v, err
}

// ReadHUInto is ReadHU that follows the buffer-reuse rule (package volume)
// for dst, which may be nil; the returned volume aliases dst when reused.
func ReadHUInto(path string, dst *volume.Volume[int16]) (*volume.Volume[int16], error) {
	v, _, err := ReadHUIntoWarn(path, dst)
	return v, err
}

// ReadHUIntoWarn is ReadHUInto that also returns a warning (warn.Saturated,
// naming path) when some voxels, at most hounsfield.MaxSaturated of them,
// had to be clamped to int16.
func ReadHUIntoWarn(path string, dst *volume.Volume[int16]) (*volume.Volume[int16], []warn.Warning, error) {
	v := dst
	clamped, err := readAny(path, func(g volume.Grid) []int16 {
		if r, ok := volume.Reuse(v, g); ok {
			return r.Data
		}
		v = volume.New[int16](g)
		return v.Data
	})
	if err != nil {
		return v, nil, err
	}
	if msg, _ := hounsfield.Saturation(clamped, len(v.Data)); msg != "" {
		return v, []warn.Warning{warn.New(warn.Saturated, path, msg)}, nil
	}
	return v, nil, nil
}

// readAny dispatches by file extension. It returns how many int16 voxels
// were clamped.
func readAny[T volume.Voxel](path string, alloc func(volume.Grid) []T) (clamped int, err error) {
	l := strings.ToLower(path)
	switch {
	case strings.HasSuffix(l, ".nii"), strings.HasSuffix(l, ".nii.gz"):
		clamped, err = readNIfTIFile(path, alloc)
	case strings.HasSuffix(l, ".mhd"), strings.HasSuffix(l, ".mha"):
		clamped, err = readMHDFile(path, alloc)
	default:
		err = fmt.Errorf("%w: unknown extension (want .nii, .nii.gz, .mhd or .mha)", ErrUnsupported)
	}
	if err != nil {
		return 0, pathErr(path, err)
	}
	return clamped, nil
}

// pathErr wraps err, an error reading path, so that it names path once: an
// *fs.PathError of path itself (open, stat) already does.
func pathErr(path string, err error) error {
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) && pe.Path == path {
		return fmt.Errorf("volio: %w", err)
	}
	return fmt.Errorf("volio: %s: %w", path, err)
}

func readNIfTIFile[T volume.Voxel](path string, alloc func(volume.Grid) []T) (int, error) {
	f, err := safefile.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return decodeNIfTI(f, st.Size(), alloc)
}

// decodeNIfTI reads a NIfTI-1 file of size bytes (plain or gzip, detected by
// its magic bytes) from r. Before any volume-sized allocation the announced
// data size is checked against size (×maxDeflateRatio when compressed) and
// the memory budget.
func decodeNIfTI[T volume.Voxel](r io.Reader, size int64, alloc func(volume.Grid) []T) (clamped int, err error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, _ := br.Peek(2)
	var src io.Reader = br
	limit := size
	gz := len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
	if gz {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return 0, fmt.Errorf("%w: gzip: %w", ErrFormat, err)
		}
		defer zr.Close()
		src = zr
		limit = size*maxDeflateRatio + 1024
	}
	hb := make([]byte, niiVoxOffset)
	if n, err := io.ReadFull(src, hb[:niiHeaderSize]); err != nil {
		return 0, fmt.Errorf("%w: header: read %d of %d bytes: %w", ErrTruncated, n, niiHeaderSize, err)
	}
	h, err := parseNIfTIHeader(hb)
	if err != nil {
		return 0, err
	}
	need := h.voxOffset + h.dataBytes()
	if need > limit {
		return 0, fmt.Errorf("%w: header announces %d bytes of voxel data at offset %d but the file holds %d bytes",
			ErrTruncated, h.dataBytes(), h.voxOffset, size)
	}
	if _, err := io.CopyN(io.Discard, src, h.voxOffset-niiHeaderSize); err != nil {
		return 0, fmt.Errorf("%w: before vox_offset %d: %w", ErrTruncated, h.voxOffset, err)
	}
	dst, err := allocChecked(h.grid, alloc)
	if err != nil {
		return 0, err
	}
	bad, clamped, err := readSamples(src, dst, h.datatype, h.order, h.slope, h.inter, h.scaled())
	if err != nil {
		return 0, err
	}
	if err := nonFiniteErr[T](bad, len(dst)); err != nil {
		return 0, err
	}
	if _, err := hounsfield.Saturation(clamped, len(dst)); err != nil {
		return 0, err
	}
	if gz {
		// Read to the end of the stream so that the gzip CRC-32 and length
		// are verified (a corrupt file must not load silently).
		if _, err := io.Copy(io.Discard, src); err != nil {
			return 0, fmt.Errorf("%w: gzip: %w", ErrFormat, err)
		}
	}
	return clamped, nil
}

// allocChecked allocates the voxels of grid g through alloc after checking
// their size against the memory budget.
func allocChecked[T volume.Voxel](g volume.Grid, alloc func(volume.Grid) []T) ([]T, error) {
	if err := checkAlloc[T](g); err != nil {
		return nil, err
	}
	return alloc(g), nil
}

// checkAlloc checks the voxels of grid g, as T, against the memory budget.
func checkAlloc[T volume.Voxel](g volume.Grid) error {
	var z T
	what := fmt.Sprintf("%d×%d×%d voxels of %T", g.Dims[0], g.Dims[1], g.Dims[2], z)
	return membudget.Check(what, membudget.Mul(int64(g.Dims[0]), int64(g.Dims[1]), int64(g.Dims[2]), int64(sizeOf[T]())))
}

// ErrNonFinite reports a volume read as Hounsfield units that holds NaN or
// infinite values (a float NIfTI with a NaN block, say): lungctl will not
// guess what they stand for, so it refuses the file rather than silently
// turning them into air (which grows the lung mask).
var ErrNonFinite = errors.New("NaN or infinite voxel values")

// nonFiniteErr is the ErrNonFinite error for bad of n voxels of a HU
// (int16) volume; nil for other element types or bad == 0.
func nonFiniteErr[T volume.Voxel](bad, n int) error {
	var z T
	if _, hu := any(z).(int16); !hu || bad == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d of %d voxels (%.2f%%); fill them (e.g. with -1000 HU outside the body) before running lungctl",
		ErrNonFinite, bad, n, 100*float64(bad)/float64(n))
}

// ReadGrid reads only the header of a .nii, .nii.gz, .mhd or .mha file and
// returns its grid (LPS mm), without reading the voxels.
func ReadGrid(path string) (volume.Grid, error) {
	g, err := readGrid(path)
	if err != nil {
		return g, pathErr(path, err)
	}
	return g, nil
}

func readGrid(path string) (volume.Grid, error) {
	l := strings.ToLower(path)
	isNii := strings.HasSuffix(l, ".nii") || strings.HasSuffix(l, ".nii.gz")
	if !isNii && !strings.HasSuffix(l, ".mhd") && !strings.HasSuffix(l, ".mha") {
		return volume.Grid{}, fmt.Errorf("%w: unknown extension (want .nii, .nii.gz, .mhd or .mha)", ErrUnsupported)
	}
	f, err := safefile.Open(path)
	if err != nil {
		return volume.Grid{}, err
	}
	defer f.Close()
	if !isNii {
		h, err := parseMHDHeader(f)
		return h.grid, err
	}
	br := bufio.NewReaderSize(f, 4096)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return volume.Grid{}, fmt.Errorf("%w: gzip: %w", ErrFormat, err)
		}
		defer zr.Close()
		src = zr
	}
	hb := make([]byte, niiHeaderSize)
	if n, err := io.ReadFull(src, hb); err != nil {
		return volume.Grid{}, fmt.Errorf("%w: header: read %d of %d bytes: %w", ErrTruncated, n, niiHeaderSize, err)
	}
	h, err := parseNIfTIHeader(hb)
	return h.grid, err
}

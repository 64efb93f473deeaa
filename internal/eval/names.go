package eval

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrSameCandidates reports a candidates file given twice to OutputNames.
var ErrSameCandidates = errors.New("the same candidates file is given twice")

// OutputNames returns the name of each candidates file's results (the
// <name> of <name>_froc.json, the name in the JSON and in the plot's
// legend), unique across paths and never starting with a dot:
//
//   - one file: its base name without the extension (out/candidates.csv →
//     candidates);
//   - several files: the base name without the extension with its folder's
//     name in front, joined by _ (run1/candidates.csv → run1_candidates); a
//     file given without a folder keeps its base name alone. Where two files
//     would get the same name, more of their folders go in front, as far as
//     their paths (cleaned, as given) name any (a/x/c.csv and b/x/c.csv →
//     a_x_c and b_x_c);
//   - leading dots are dropped (.hidden.csv → hidden), and a name still taken
//     by an earlier file gets _2, _3 … (x/c.csv and x/c.txt → x_c and x_c_2).
//
// A file given twice (the same file after cleaning the path, or through a
// link) is an error wrapping ErrSameCandidates, and a path that cannot be
// read is an error naming it: both are found before anything is read.
func OutputNames(paths []string) ([]string, error) {
	infos := make([]os.FileInfo, len(paths))
	for i, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("eval: candidates: %w", err)
		}
		for j := range i {
			if os.SameFile(infos[j], fi) {
				return nil, fmt.Errorf("eval: %s and %s: %w; give each file once", paths[j], p, ErrSameCandidates)
			}
		}
		infos[i] = fi
	}
	return outputNames(paths), nil
}

// outputNames is OutputNames' naming rule, on the paths alone.
func outputNames(paths []string) []string {
	parts := make([][]string, len(paths)) // folders, then the stem
	use := make([]int, len(paths))        // how many of parts name it
	for i, p := range paths {
		p = filepath.Clean(p)
		p = p[len(filepath.VolumeName(p)):]
		var ps []string
		for _, c := range strings.Split(filepath.ToSlash(p), "/") {
			if c != "" && c != "." && c != ".." {
				ps = append(ps, c)
			}
		}
		if len(ps) == 0 {
			ps = []string{"candidates"}
		}
		base := ps[len(ps)-1]
		if stem := strings.TrimSuffix(base, filepath.Ext(base)); strings.Trim(stem, ".") != "" {
			ps[len(ps)-1] = stem
		}
		parts[i] = ps
		use[i] = 1
		if len(paths) > 1 {
			use[i] = min(2, len(ps))
		}
	}
	name := func(i int) string {
		n := strings.TrimLeft(strings.Join(parts[i][len(parts[i])-use[i]:], "_"), ".")
		if n == "" {
			n = "candidates"
		}
		return n
	}
	names := make([]string, len(paths))
	for more := true; more; {
		more = false
		count := map[string]int{}
		for i := range paths {
			names[i] = name(i)
			count[names[i]]++
		}
		for i := range paths {
			if count[names[i]] > 1 && use[i] < len(parts[i]) {
				use[i]++
				more = true
			}
		}
	}
	taken := map[string]bool{}
	for _, n := range names {
		taken[n] = true
	}
	kept := map[string]bool{}
	for i, n := range names {
		if kept[n] {
			for k := 2; ; k++ {
				if s := n + "_" + strconv.Itoa(k); !taken[s] {
					n = s
					break
				}
			}
			names[i] = n
			taken[n] = true
		}
		kept[n] = true
	}
	return names
}

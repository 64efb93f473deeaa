package main

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lungctl/lungctl/internal/cluster"
	"github.com/lungctl/lungctl/internal/detect"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newMeanShiftCmd) }

func newMeanShiftCmd() *cobra.Command {
	var (
		out, centers, kernel string
		bandwidth            float64
		binSeeding, all      bool
		minBinFreq, maxIter  int
	)
	cmd := &cobra.Command{
		Use:   "meanshift POINTS.npy|POINTS.csv -o labels.csv [--kernel flat|gaussian] [--bandwidth B]",
		Short: "mean-shift clustering of N×D points: scikit-learn's flat kernel natively, or lungctl's Gaussian",
		Long:  meanShiftLong,
		Example: `  lungctl detect ../shared/data/lidc-idri-0001/LIDC-IDRI-0001 -o cands.csv --export-points pts.npy
  lungctl meanshift pts.npy --bandwidth 4 --bin-seeding -o labels.csv --centers centers.csv
  # the same run in scikit-learn, for comparison:
  /usr/bin/python3 ../shared/peers/meanshift_sklearn.py --points pts.npy --bandwidth 4 --bin-seeding
  lungctl meanshift points.csv --bandwidth 2.5 --cluster-all -o labels.csv
  lungctl meanshift pts.npy --kernel gaussian --bandwidth 4 -o labels.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("meanshift: -o labels.csv is required")
			}
			if !(bandwidth > 0) || bandwidth > 1e12 {
				return usagef("meanshift: --bandwidth %g: want a number above 0, up to 1e12", bandwidth)
			}
			if out == stdoutPath && centers == stdoutPath {
				return usagef("meanshift: -o and --centers cannot both be - (standard output)")
			}
			if err := firstErr(checkInt("min-bin-freq", minBinFreq, 1, 1<<30), checkInt("max-iter", maxIter, 1, 1000000)); err != nil {
				return err
			}
			kernel = strings.ToLower(strings.TrimSpace(kernel))
			switch kernel {
			case "flat":
			case "gaussian":
				for _, f := range []string{"min-bin-freq", "cluster-all"} {
					if cmd.Flags().Changed(f) {
						return usagef("meanshift: --%s applies only to --kernel flat", f)
					}
				}
			default:
				return usagef("meanshift: --kernel %q: want flat or gaussian", kernel)
			}
			in := args[0]
			pts, dim, err := readPoints(in)
			if err != nil {
				return err
			}
			start := time.Now()
			r, err := meanShift(kernel, pts, dim, cluster.FlatOptions{Bandwidth: bandwidth, BinSeeding: binSeeding,
				MinBinFreq: minBinFreq, ClusterAll: all, MaxIter: maxIter}, cmd.Flags().Changed("max-iter"))
			if err != nil {
				return fmt.Errorf("meanshift: %s: %w", in, err)
			}
			secs := time.Since(start).Seconds()
			if err := writeLabels(cmd, out, r.Labels); err != nil {
				return err
			}
			if centers != "" {
				if err := writeCenters(cmd, centers, r, dim); err != nil {
					return err
				}
			}
			orphans := 0
			for _, l := range r.Labels {
				if l < 0 {
					orphans++
				}
			}
			logger.Info("clustered", "points", len(pts)/dim, "dim", dim, "kernel", kernel, "bandwidth", bandwidth,
				"clusters", r.K(), "unlabelled", orphans, "iters", r.Iters, "seconds", fmt.Sprintf("%.3f", secs), "out", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "out", "o", "", "labels CSV to write (header label, one row per point; - = standard output)")
	f.StringVar(&centers, "centers", "", "also write the cluster centres as CSV (x0..x<D-1>,size; row k = cluster k; - = standard output)")
	f.StringVar(&kernel, "kernel", "flat", "flat (scikit-learn's MeanShift) or gaussian (lungctl detect's)")
	f.Float64Var(&bandwidth, "bandwidth", detect.Defaults.Bandwidth[0], "one bandwidth for every axis, in the points' units, above 0 up to 1e12: the flat kernel's radius, the Gaussian's standard deviation")
	f.BoolVar(&binSeeding, "bin-seeding", false, "seed from bins of side B (flat, as scikit-learn) or 0.5B (gaussian) instead of every point")
	f.IntVar(&minBinFreq, "min-bin-freq", 1, "flat: least points in a bin for it to seed, at least 1")
	f.BoolVar(&all, "cluster-all", false, "flat: label every point with its nearest centre (else -1 beyond the bandwidth)")
	f.IntVar(&maxIter, "max-iter", 300, "most mean-shift steps per seed, 1-1000000 (gaussian: 200 unless given)")
	return cmd
}

// meanShift clusters the N×dim points with kernel flat (scikit-learn's,
// with fo) or gaussian (detect's: fo's bandwidth on every axis, bins of half
// of it with BinSeeding, and fo.MaxIter only when maxIterGiven, else its own
// default of 200).
func meanShift(kernel string, pts []float32, dim int, fo cluster.FlatOptions, maxIterGiven bool) (*cluster.Result, error) {
	if kernel == "flat" {
		return cluster.FlatMeanShift(pts, dim, fo)
	}
	bw := make([]float64, dim)
	for a := range bw {
		bw[a] = fo.Bandwidth
	}
	opt := cluster.Options{Bandwidth: bw}
	if maxIterGiven {
		opt.MaxIter = fo.MaxIter
	}
	if fo.BinSeeding {
		opt.BinSize = 0.5
	}
	return cluster.MeanShift(pts, dim, opt)
}

// readPoints reads N×D points from .npy (float32) or CSV, by extension.
func readPoints(path string) ([]float32, int, error) {
	if strings.EqualFold(filepath.Ext(path), ".npy") {
		return cluster.ReadPointsNPY(path)
	}
	return cluster.ReadPointsCSV(path)
}

// writeLabels writes one label per line under the header "label".
func writeLabels(cmd *cobra.Command, path string, labels []int32) error {
	err := writeOut(cmd, path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<16)
		bw.WriteString("label\n")
		buf := make([]byte, 0, 16)
		for _, l := range labels {
			buf = strconv.AppendInt(buf[:0], int64(l), 10)
			buf = append(buf, '\n')
			bw.Write(buf)
		}
		return bw.Flush()
	})
	if err != nil {
		return fmt.Errorf("meanshift: %s: %w", path, err)
	}
	return nil
}

// writeCenters writes the K×dim centres with their sizes, row k = cluster k.
func writeCenters(cmd *cobra.Command, path string, r *cluster.Result, dim int) error {
	err := writeOut(cmd, path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<16)
		for a := 0; a < dim; a++ {
			bw.WriteString("x" + strconv.Itoa(a) + ",")
		}
		bw.WriteString("size\n")
		buf := make([]byte, 0, 32)
		for k := 0; k < r.K(); k++ {
			buf = buf[:0]
			for a := 0; a < dim; a++ {
				buf = strconv.AppendFloat(buf, float64(r.Centers[k*dim+a]), 'g', -1, 32)
				buf = append(buf, ',')
			}
			buf = strconv.AppendInt(buf, int64(r.Sizes[k]), 10)
			buf = append(buf, '\n')
			bw.Write(buf)
		}
		return bw.Flush()
	})
	if err != nil {
		return fmt.Errorf("meanshift: %s: %w", path, err)
	}
	return nil
}

// meanShiftLong is the command's --help text.
const meanShiftLong = `meanshift clusters the N×D points of a float32 .npy (as written by
'lungctl detect --export-points') or a CSV (one point per line, an optional
header line) with one bandwidth --bandwidth on every axis, in the points' units
(scale the axes first; detect's export already does). A CSV's points are
checked against the memory budget (--max-memory) as they are read: a file too
large for it is refused naming the file and line. A .npy is checked before it
is read (twice its size: its bytes and its values).

--kernel flat (default) is scikit-learn's MeanShift (sklearn.cluster.MeanShift,
version 1.2) step for step: seeds are the points, or with --bin-seeding the
grid points round(x/B)*B of bins holding at least --min-bin-freq points; each
seed moves to the mean of the points within distance <= B until a step is
shorter than 0.001*B (at most --max-iter steps); modes are sorted by the number
of points around them and a mode within B of a denser one is dropped; every
point gets its nearest centre, or -1 when that is farther than B unless
--cluster-all. On the same points it gives scikit-learn's clusters (adjusted
Rand index 1.0 on LIDC-IDRI-0001's 47,639 points) in a fraction of the time.
Note scikit-learn's own default is cluster_all=True; here, as in
meanshift_sklearn.py, --cluster-all must be given.

--kernel gaussian runs lungctl's detector clustering (Gaussian kernel of
standard deviation B, truncated at 3B, modes within 0.5B merged); --bin-seeding
then seeds from bins of 0.5B. --min-bin-freq and --cluster-all are flat-only.

Writes labels.csv: header "label", then one row per point in input order: the
cluster index (clusters numbered by size, largest first) or -1. --centers
writes the cluster centres: columns x0..x<D-1>,size, row k = cluster k.`

package nodule

// ZZSolidAt is a temporary debug accessor.
func (r *Result) ZZSolidAt() ([3]float64, float64) { return r.solidAt, r.solidPeakHU }

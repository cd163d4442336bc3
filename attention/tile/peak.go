package tile

func peakGo(iters int) (float64, float32) {
	a0, a1, a2, a3 := float32(0.1), float32(0.2), float32(0.3), float32(0.4)
	a4, a5, a6, a7 := float32(0.5), float32(0.6), float32(0.7), float32(0.8)
	const x, y = float32(0.999999), float32(1e-7)
	for range iters {
		a0 = a0*x + y
		a1 = a1*x + y
		a2 = a2*x + y
		a3 = a3*x + y
		a4 = a4*x + y
		a5 = a5*x + y
		a6 = a6*x + y
		a7 = a7*x + y
	}
	return float64(iters) * 16, a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7
}

func readSumGo(s []float32) float32 {
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(s); i += 8 {
		v := s[i : i+8 : i+8]
		s0 += v[0]
		s1 += v[1]
		s2 += v[2]
		s3 += v[3]
		s4 += v[4]
		s5 += v[5]
		s6 += v[6]
		s7 += v[7]
	}
	for ; i < len(s); i++ {
		s0 += s[i]
	}
	return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
}

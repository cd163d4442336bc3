package load

import (
	"errors"
	"math"
	"strings"
	"testing"
)

type mapSource map[string]struct {
	data  []float32
	shape []int
}

func (m mapSource) Has(name string) bool { _, ok := m[name]; return ok }

func (m mapSource) Float32(name string) ([]float32, []int, error) {
	if name == "broken" {
		return nil, nil, errors.New("unreadable")
	}
	t := m[name]
	return t.data, t.shape, nil
}

func TestTensor(t *testing.T) {
	src := mapSource{
		"w":      {[]float32{1, 2, 3, 4, 5, 6}, []int{2, 3}},
		"short":  {[]float32{1, 2}, []int{2, 3}},
		"broken": {},
		"nan":    {[]float32{1, float32(math.NaN())}, []int{2}},
		"inf":    {[]float32{float32(math.Inf(-1)), 0}, []int{2}},
	}
	if got, err := Tensor(src, "w", 2, 3); err != nil || len(got) != 6 || got[5] != 6 {
		t.Fatalf("Tensor(w) = %v, %v", got, err)
	}
	for _, c := range []struct {
		name  string
		shape []int
		want  string
	}{
		{"nope", []int{1}, "missing tensor nope"},
		{"w", []int{3, 2}, "w has shape [2 3], want [3 2]"},
		{"short", []int{2, 3}, "short has 2 values, its shape [2 3] needs 6"},
		{"broken", []int{1}, "broken: unreadable"},
		{"nan", []int{2}, "nan holds NaN at index 1"},
		{"inf", []int{2}, "inf holds -Inf at index 0"},
	} {
		if _, err := Tensor(src, c.name, c.shape...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Tensor(%s, %v): %v, want %q", c.name, c.shape, err, c.want)
		}
	}
}

// A Reader keeps its first error, prefixed with its part, and returns nil
// from then on, even for tensors it could read.
func TestReader(t *testing.T) {
	src := mapSource{"w": {[]float32{1, 2}, []int{2}}}
	r := &Reader{Src: src, Part: "net"}
	if got := r.Tensor("w", 2); len(got) != 2 || r.Err != nil {
		t.Fatalf("Tensor(w) = %v, err %v", got, r.Err)
	}
	if got := r.Tensor("nope", 1); got != nil || r.Err == nil || r.Err.Error() != "net: missing tensor nope (shape [1])" {
		t.Fatalf("Tensor(nope) = %v, err %v", got, r.Err)
	}
	first := r.Err
	if got := r.Tensor("w", 2); got != nil || r.Err != first {
		t.Errorf("after an error: Tensor(w) = %v, err %v (want nil and the first error)", got, r.Err)
	}
	if got := r.Tensor("w", 3); got != nil || r.Err != first {
		t.Errorf("a second error replaced the first: %v", r.Err)
	}
}

package load

import (
	"errors"
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
	} {
		if _, err := Tensor(src, c.name, c.shape...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Tensor(%s, %v): %v, want %q", c.name, c.shape, err, c.want)
		}
	}
}

package tokenizer

// Examples quoted by docs/guide.md.

import "fmt"

// The BPE merge sequence of "banana" (bpe), shown by allowing the merges of
// rank < r for r = 0 … 5: each added rank adds its merges, and "n a"
// (rank 4) never applies because lower ranks consume its letters first.
func Example_bpeMerges() {
	merges := []pair{{"a", "n"}, {"Ġ", "b"}, {"an", "a"}, {"Ġb", "an"}, {"n", "a"}}
	for r := 0; r <= len(merges); r++ {
		ranks := map[pair]int{}
		for i, p := range merges[:r] {
			ranks[p] = i
		}
		last := "(none)"
		if r > 0 {
			last = fmt.Sprintf("%q", merges[r-1].a+" "+merges[r-1].b)
		}
		fmt.Printf("ranks < %d (last %-9s): %q\n", r, last, bpe(ranks, "banana"))
	}
	// Output:
	// ranks < 0 (last (none)   ): ["Ġ" "b" "a" "n" "a" "n" "a"]
	// ranks < 1 (last "a n"    ): ["Ġ" "b" "an" "an" "a"]
	// ranks < 2 (last "Ġ b"    ): ["Ġb" "an" "an" "a"]
	// ranks < 3 (last "an a"   ): ["Ġb" "an" "ana"]
	// ranks < 4 (last "Ġb an"  ): ["Ġban" "ana"]
	// ranks < 5 (last "n a"    ): ["Ġban" "ana"]
}

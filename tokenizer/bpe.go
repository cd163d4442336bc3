package tokenizer

import "container/heap"

// pair is two adjacent BPE symbols.
type pair struct{ a, b string }

// bpe splits one word into BPE symbols the way min-dalle does: symbols start
// as ["Ġ", c1, c2, ...] (the word is ASCII, so one symbol per byte), then,
// while some adjacent pair has a rank, the pair with the smallest rank is
// merged at its leftmost occurrence only.
//
// Instead of rescanning all pairs after every merge (O(n²)), candidate pairs
// sit in a heap ordered by (rank, start offset of the left symbol). A merged
// symbol keeps the start offset of its left part, so ordering by start offset
// is ordering by current position: the heap minimum is exactly Python's
// min(pairs, key=rank) with ties broken leftmost. Stale entries (a side was
// merged away since the push) are skipped when popped.
func bpe(ranks map[pair]int, word string) []string {
	text := "\u0120" + word // Ġ = chr(ord(" ") + 256), two bytes in UTF-8
	// Symbol k covers text[start(k):end[k]]; symbols are identified by their
	// start offset. Initial starts: 0, then 2, 3, ... (one per word byte).
	n := len(text)
	end := make([]int, n)  // end[s]: end offset of the live symbol starting at s
	prev := make([]int, n) // prev[s]: start of the previous live symbol, -1 if none
	alive := make([]bool, n)
	starts := []int{0}
	for s := 2; s < n; s++ {
		starts = append(starts, s)
	}
	for k, s := range starts {
		alive[s] = true
		if k+1 < len(starts) {
			end[s] = starts[k+1]
		} else {
			end[s] = n
		}
		if k > 0 {
			prev[s] = starts[k-1]
		} else {
			prev[s] = -1
		}
	}

	h := &pairHeap{}
	push := func(l int) { // consider the pair (symbol at l, its right neighbour)
		r := end[l]
		if r >= n {
			return
		}
		if rank, ok := ranks[pair{text[l:r], text[r:end[r]]}]; ok {
			heap.Push(h, pairEntry{rank: rank, left: l, mid: r, right: end[r]})
		}
	}
	for _, s := range starts {
		push(s)
	}
	for h.Len() > 0 {
		e := heap.Pop(h).(pairEntry)
		// Stale unless both symbols still exist with the same extent.
		if !alive[e.left] || end[e.left] != e.mid || !alive[e.mid] || end[e.mid] != e.right {
			continue
		}
		// Merge: the left symbol absorbs the right one.
		alive[e.mid] = false
		end[e.left] = e.right
		if e.right < n {
			prev[e.right] = e.left
		}
		if p := prev[e.left]; p >= 0 {
			push(p)
		}
		push(e.left)
	}
	var out []string
	for s := 0; s < n; s = end[s] {
		out = append(out, text[s:end[s]])
	}
	return out
}

// pairEntry is a candidate merge of text[left:mid] and text[mid:right].
type pairEntry struct {
	rank             int
	left, mid, right int
}

// pairHeap is a min-heap of candidate merges by (rank, left).
type pairHeap []pairEntry

func (h pairHeap) Len() int { return len(h) }
func (h pairHeap) Less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].left < h[j].left
}
func (h pairHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pairHeap) Push(x any)   { *h = append(*h, x.(pairEntry)) }
func (h *pairHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

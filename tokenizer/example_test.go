package tokenizer_test

import (
	"fmt"
	"log"

	"github.com/tessella-ml/tessella/tokenizer"
)

func ExampleTokenizer_Tokenize() {
	tok, err := tokenizer.Load("../testdata/tokenizer/vocab.json", "../testdata/tokenizer/merges.txt")
	if err != nil {
		log.Fatal(err)
	}
	text := "A red circle ❤️"
	fmt.Printf("%q\n", tok.Normalize(text))
	fmt.Printf("%q\n", tok.Subwords(text))
	ids := tok.Tokenize(text)
	fmt.Println(ids)
	uncond, cond := tokenizer.TextRows(ids, 12)
	fmt.Println(uncond)
	fmt.Println(cond)
	// Longer than textLen: cut, EOS lost, uncond starts with the last kept token.
	uncond, cond = tokenizer.TextRows(ids, 8)
	fmt.Println(uncond, cond)
	// Output:
	// "a red circle red_heart"
	// ["Ġa" "Ġr" "ed" "Ġc" "ir" "cle" "Ġr" "ed" "_" "heart"]
	// [0 135 199 110 136 142 449 199 110 66 252 2]
	// [0 2 1 1 1 1 1 1 1 1 1 1]
	// [0 135 199 110 136 142 449 199 110 66 252 2]
	// [0 199 1 1 1 1 1 1] [0 135 199 110 136 142 449 199]
}

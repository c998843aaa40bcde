package rekorv1_test

import (
	"errors"
	"fmt"

	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
)

// An API handler turns an InputError into Rekor's {code, message} body and
// anything else into a 500.
func ExampleCanonicalize() {
	body := []byte(`{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{}}`)
	_, err := rekorv1.Canonicalize(body, rekorv1.DefaultOptions())
	var ie *rekorv1.InputError
	if errors.As(err, &ie) {
		fmt.Println(ie.Code)
		fmt.Println(ie.Message)
	}
	// Output:
	// 400
	// error processing entry: validation failure list:
	// data in body is required
	// signature in body is required
}

func ExampleSearchQuery_Keys() {
	q := rekorv1.SearchQuery{
		Hash:     "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
		Email:    "Signer@Example.com",
		Operator: rekorv1.OperatorAnd,
	}
	keysets, op, err := q.Keys()
	fmt.Println(keysets, op, err)
	// Output:
	// [[sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855] [signer@example.com]] and <nil>
}

func ExampleParseEntryID() {
	// Tree 1193050959916656506 is 0x108e9186e8c5677a.
	treeID, leafHash, hasTree, err := rekorv1.ParseEntryID("108e9186e8c5677a" + "3030303030303030303030303030303030303030303030303030303030303030")
	fmt.Println(treeID, hasTree, err)
	fmt.Println(rekorv1.EntryID(treeID, leafHash))
	// Output:
	// 1193050959916656506 true <nil>
	// 108e9186e8c5677a3030303030303030303030303030303030303030303030303030303030303030
}

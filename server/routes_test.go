package server

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/berth-dev/berth/api/apitest"
)

// The server's routes are the document's operations, no more, no less.
func TestRoutesAreTheDocumentsOperations(t *testing.T) {
	doc := apitest.New(t).Doc
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	var served []string
	for _, rt := range New(Options{}).routes() {
		served = append(served, rt.method+" "+rt.path)
	}
	slices.Sort(documented)
	slices.Sort(served)
	assert.Equal(t, documented, served)
}

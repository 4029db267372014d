// Package atinit puts the heap of a short-lived program on a huge page
// (hugeheap.Enable) as soon as it starts: importing it is enough. Its init
// runs before most package inits of the program (it depends on nothing but
// hugeheap, which depends on nothing but syscall), so that the pages those
// inits touch are already on the huge page.
package atinit

import "github.com/sdocker/sdocker/internal/hugeheap"

func init() { hugeheap.Enable() }

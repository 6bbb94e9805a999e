package cgroup

import (
	"crypto/sha256"
	"strings"
	"testing"
)

// TestSum256 compares sum256 with crypto/sha256 at every length around
// the block and padding edges (a shortened name must stay the same name).
func TestSum256(t *testing.T) {
	for n := 0; n < 300; n++ {
		b := []byte(strings.Repeat("a%Z~/", n)[:n])
		for i := range b {
			b[i] += byte(i * 7)
		}
		if got, want := sum256(b), sha256.Sum256(b); got != want {
			t.Fatalf("length %d: %x, want %x", n, got, want)
		}
	}
}

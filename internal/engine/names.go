package engine

import (
	"crypto/rand"
	"math/big"
)

var nameLeft = []string{
	"agile", "bold", "brave", "bright", "calm", "clever", "cool", "eager", "fancy", "gentle",
	"happy", "jolly", "keen", "kind", "lucid", "merry", "nimble", "proud", "quick", "quiet",
	"sharp", "shy", "steady", "swift", "tender", "vivid", "wise", "witty", "zealous", "zen",
}

var nameRight = []string{
	"babbage", "bell", "curie", "darwin", "dijkstra", "einstein", "euler", "fermat", "galois",
	"gauss", "hopper", "hypatia", "kepler", "knuth", "lamport", "lovelace", "maxwell", "newton",
	"noether", "pascal", "ritchie", "shannon", "tesla", "thompson", "torvalds", "turing", "wozniak",
}

func pick(list []string) string {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(list))))
	if err != nil {
		return list[0]
	}
	return list[n.Int64()]
}

// generateName makes a Docker-style name, adjective_scientist, not in used;
// a number is appended after a few collisions.
func generateName(used map[string]bool) string {
	for i := 0; ; i++ {
		name := pick(nameLeft) + "_" + pick(nameRight)
		if i >= 10 {
			n, _ := rand.Int(rand.Reader, big.NewInt(1000))
			name += n.String()
		}
		if !used[name] {
			return name
		}
	}
}

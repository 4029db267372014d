// Command mkimage pushes a benchmark image to a registry: LAYERS layers of
// SIZE bytes each (files of 1 MiB, half random and half zeros, so gzip
// halves them, about as it does real layers). Layer i's content comes from
// seed i (-seeds lists them), so two images share the layers whose seeds
// they share.
package main

import (
	"archive/tar"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	size := flag.Int64("size", 40<<20, "bytes of file content per layer")
	seeds := flag.String("seeds", "1,2,3,4,5", "one seed per layer, comma-separated")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: mkimage [-size BYTES] [-seeds 1,2,3] HOST:PORT/REPO:TAG (plain HTTP)")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *size, strings.Split(*seeds, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(ref string, size int64, seeds []string) error {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	var layers []v1.Layer
	for _, s := range seeds {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("seed %q: %w", s, err)
		}
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(writeLayer(pw, seed, size)) }()
			return pr, nil
		})
		if err != nil {
			return err
		}
		layers = append(layers, l)
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	return remote.Write(r, img, remote.WithAuth(authn.Anonymous))
}

// writeLayer writes a layer of 1 MiB files whose content comes from seed
// (made again each time: nothing is held in memory).
func writeLayer(w io.Writer, seed uint64, size int64) error {
	rng := rand.New(rand.NewPCG(seed, seed))
	tw := tar.NewWriter(w)
	const file = 1 << 20
	chunk := make([]byte, file)
	for i := int64(0); i*file < size; i++ {
		for j := 0; j < file/2; j += 8 {
			v := rng.Uint64()
			for k := range 8 {
				chunk[j+k] = byte(v >> (8 * k))
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data-%d/%d", seed, i), Mode: 0o644, Size: file, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(chunk); err != nil {
			return err
		}
	}
	return tw.Close()
}

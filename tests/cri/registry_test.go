package cri

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// localRegistry is an in-memory image registry on 127.0.0.1, which
// containerd reaches over plain HTTP (a mirror of itself in its config):
// critest pulls its test images from it, nothing from the internet.
type localRegistry struct {
	addr string // host:port
	srv  *http.Server
}

func (n *criNode) startRegistry() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the registry: %w", err)
	}
	r := &localRegistry{addr: l.Addr().String()}
	r.srv = &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	go func() { _ = r.srv.Serve(l) }()
	n.registry = r
	return nil
}

func (r *localRegistry) close() { _ = r.srv.Shutdown(context.Background()) }

// push copies the image src of containerd's k8s.io namespace into the
// registry as ref (a path without the host), with ctr.
func (r *localRegistry) push(n *criNode, src, ref string) error {
	dst := r.addr + "/" + ref
	if err := n.tagImage(src, dst); err != nil {
		return err
	}
	if res := n.ctrImages("push", "--plain-http", dst); res.err != nil {
		return fmt.Errorf("push %s: %s", dst, res)
	}
	return nil
}

// ctrImages runs ctr images in containerd's k8s.io namespace.
func (n *criNode) ctrImages(args ...string) *result {
	return run(timeout(2*time.Minute), "ctr", append([]string{"--address", n.sock, "-n", "k8s.io", "images"}, args...)...)
}

// tagImage names the image src also dst.
func (n *criNode) tagImage(src, dst string) error {
	if res := n.ctrImages("tag", "--force", src, dst); res.err != nil {
		return fmt.Errorf("tag %s: %s", dst, res)
	}
	return nil
}

// nettool is the network tests' server and client, built static and
// bind-mounted into containers (the test rootfs has no network tools).
//
//	nettool serve PORT            answer on PORT, TCP and UDP, with "hello HOSTNAME REMOTE"
//	nettool get tcp|udp HOST:PORT print the server's answer
//	nettool addrs                 print the IPv4 addresses of the interfaces but lo
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "nettool:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 2 && args[0] == "serve":
		return serve(args[1])
	case len(args) == 3 && args[0] == "get":
		return get(args[1], args[2])
	case len(args) == 1 && args[0] == "addrs":
		return addrs()
	}
	return fmt.Errorf("usage: serve PORT | get tcp|udp HOST:PORT | addrs")
}

func answer(remote string) string {
	h, _ := os.Hostname()
	return fmt.Sprintf("hello %s %s\n", h, remote)
}

func serve(port string) error {
	l, err := net.Listen("tcp4", ":"+port)
	if err != nil {
		return err
	}
	u, err := net.ListenPacket("udp4", ":"+port)
	if err != nil {
		return err
	}
	go func() {
		buf := make([]byte, 64)
		for {
			_, from, err := u.ReadFrom(buf)
			if err != nil {
				return
			}
			u.WriteTo([]byte(answer(from.String())), from)
		}
	}()
	fmt.Println("listening")
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		c.Write([]byte(answer(c.RemoteAddr().String())))
		c.Close()
	}
}

func get(proto, addr string) error {
	c, err := net.DialTimeout(proto+"4", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if proto == "udp" {
		if _, err := c.Write([]byte("x")); err != nil {
			return err
		}
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	fmt.Print(line)
	return nil
}

func addrs() error {
	ifs, err := net.Interfaces()
	if err != nil {
		return err
	}
	var out []string
	for _, i := range ifs {
		as, _ := i.Addrs()
		for _, a := range as {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && i.Name != "lo" {
				out = append(out, i.Name+"="+ipn.String())
			}
		}
	}
	fmt.Println(strings.Join(out, " "))
	return nil
}

package main

import (
	"strings"
	"testing"
)

func TestNeedsNamespace(t *testing.T) {
	for args, want := range map[string]bool{
		"":                        false,
		"--help":                  false,
		"--version":               false,
		"help run":                false,
		"run --help":              false,
		"--root /x run -h":        false,
		"network ls":              true,
		"run box ls -h":           true, // the container's -h
		"run --rm box true":       true,
		"--root /x ps":            true,
		"exec -it c sh -c --help": true,
		"completion bash":         false,
		"run -e A=1 --help box":   true, // a flag's value ends the scan: the namespace prints the help
	} {
		if got := needsNamespace(strings.Fields(args)); got != want {
			t.Errorf("%q: %v, want %v", args, got, want)
		}
	}
}

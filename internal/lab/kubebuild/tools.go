//go:build tools

// The build tag keeps this file out of every build: it only makes `go mod tidy` keep
// the two commands' dependencies (and go.sum lines) in this module.
package main

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)

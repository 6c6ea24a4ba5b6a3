//go:build tools

// Package tools pins the commands this module builds: kube-apiserver and kubectl
// from k8s.io/kubernetes (see go.mod for the release).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)

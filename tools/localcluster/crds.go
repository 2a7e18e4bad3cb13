//go:build tools

// The routers' third-party CRDs are read from the Go modules that publish
// them; this file only pins those modules in go.mod and go.sum.
package main

import (
	_ "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/split/v1alpha4"
	_ "istio.io/api/networking/v1"
	_ "sigs.k8s.io/gateway-api/apis/v1"
)

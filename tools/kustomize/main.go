// The kustomize binary the Sync controller runs for directories with a
// kustomization.yaml. It is upstream kustomize's own command tree, built from
// its Go module (pinned in go.sum) so the setup needs no prebuilt download.
package main

import (
	"os"

	"sigs.k8s.io/kustomize/kustomize/v5/commands"
)

func main() {
	if err := commands.NewDefaultCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

// Command localcluster is one multi-call binary holding a real Kubernetes
// control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler), kwok and kubectl, plus a launcher (up/down/status) that
// runs each component as its own process.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kwokconfig "sigs.k8s.io/kwok/pkg/config"
	kwokcmd "sigs.k8s.io/kwok/pkg/kwok/cmd"
	kwoklog "sigs.k8s.io/kwok/pkg/log"
	"sigs.k8s.io/kwok/pkg/utils/signals"
)

const usage = `usage: localcluster COMMAND [flags]

launcher:
  up      --dir DIR   start a control plane, write DIR/kubeconfig, return when ready
  down    --dir DIR   stop every component started by up
  status  --dir DIR   print each component's state; exit 1 if any is down

components (each run as its own process by up):
  etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, kubectl
`

func main() {
	command := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if command == "localcluster" || command == "main" {
		if len(args) == 0 {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		command, args = args[0], args[1:]
	}
	// Components parse os.Args themselves, so present them as if run directly.
	os.Args = append([]string{command}, args...)

	switch command {
	case "etcd":
		etcdmain.Main(os.Args)
	case "kube-apiserver":
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "kube-controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "kube-scheduler":
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	case "kubectl":
		logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args)) //nolint:errcheck
		if err := cli.RunNoErrOutput(kubectlcmd.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err)
		}
	case "kwok":
		runKwok()
	case "up", "down", "status":
		os.Exit(runLauncher(command, args))
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "localcluster: unknown command %q\n\n%s", command, usage)
		os.Exit(2)
	}
}

func runKwok() {
	flagset := pflag.NewFlagSet("global", pflag.ContinueOnError)
	flagset.ParseErrorsAllowlist.UnknownFlags = true
	flagset.Usage = func() {}
	ctx := signals.SetupSignalContext()
	ctx, logger := kwoklog.InitFlags(ctx, flagset)
	ctx, err := kwokconfig.InitFlags(ctx, flagset)
	if err != nil {
		logger.Error("init config flags", "err", err)
		os.Exit(1)
	}
	command := kwokcmd.NewCommand(ctx)
	// The Kubernetes components register a global non-bool --version flag;
	// cobra's own bool --version flag would clash with it.
	command.Version = ""
	command.PersistentFlags().AddFlagSet(flagset)
	if err := command.ExecuteContext(ctx); err != nil {
		logger.Error("kwok exited", "err", err)
		os.Exit(1)
	}
}

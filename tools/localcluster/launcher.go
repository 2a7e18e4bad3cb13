package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodeheartbeat "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
)

const (
	serviceClusterIPRange = "10.96.0.0/16"
	serviceClusterIP      = "10.96.0.1"
	podCIDR               = "10.244.0.1/16"
	nodeName              = "kwok-node-0"
	readyTimeout          = 3 * time.Minute
)

// component is one running process of the cluster, as recorded in cluster.json.
type component struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	Port int    `json:"port,omitempty"`
	Log  string `json:"log"`
}

type clusterState struct {
	Server     string      `json:"server"`
	Kubeconfig string      `json:"kubeconfig"`
	Components []component `json:"components"`
}

func runLauncher(command string, args []string) int {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	dir := fs.String("dir", "", "state directory of the cluster (PKI, data, logs, kubeconfig)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" {
		fmt.Fprintf(os.Stderr, "localcluster %s: --dir is required\n", command)
		return 2
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	switch command {
	case "up":
		err = up(abs)
	case "down":
		err = down(abs)
	default:
		err = status(abs)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "localcluster %s: %v\n", command, err)
		return 1
	}
	return 0
}

func up(dir string) error {
	if state, err := readState(dir); err == nil && anyAlive(state) {
		return fmt.Errorf("a cluster is already running in %s; run `localcluster down --dir %s` first", dir, dir)
	}
	for _, sub := range []string{"pki", "logs", "etcd"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	pki := filepath.Join(dir, "pki")
	if err := generatePKI(pki); err != nil {
		return fmt.Errorf("generate PKI: %w", err)
	}
	ports, err := freePorts(5)
	if err != nil {
		return err
	}
	etcdPort, peerPort, apiPort, kcmPort, schedPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, server, pki); err != nil {
		return err
	}
	state := &clusterState{Server: server, Kubeconfig: kubeconfig}
	l := &launch{dir: dir, state: state, exited: make(chan string, 8)}
	ok := false
	defer func() {
		if !ok {
			stopAll(state)
		}
	}()

	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	if err := l.start("etcd", etcdPort,
		"--name=default", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--unsafe-no-fsync=true",
		"--log-level=warn", "--quota-backend-bytes=4294967296",
	); err != nil {
		return err
	}
	if err := l.waitHTTP("etcd", etcdURL+"/health", plainClient()); err != nil {
		return err
	}

	if err := l.start("kube-apiserver", apiPort,
		"--etcd-servers="+etcdURL,
		fmt.Sprintf("--secure-port=%d", apiPort), "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--cert-dir="+filepath.Join(pki, "generated"),
		"--tls-cert-file="+filepath.Join(pki, "apiserver.crt"), "--tls-private-key-file="+filepath.Join(pki, "apiserver.key"),
		"--client-ca-file="+filepath.Join(pki, "ca.crt"),
		"--service-account-key-file="+filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(pki, "sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range="+serviceClusterIPRange,
		"--authorization-mode=RBAC", "--allow-privileged=true", "--profiling=false",
	); err != nil {
		return err
	}
	adminClient, err := adminHTTPClient(pki)
	if err != nil {
		return err
	}
	if err := l.waitHTTP("kube-apiserver", server+"/readyz", adminClient); err != nil {
		return err
	}

	common := []string{
		"--kubeconfig=" + kubeconfig, "--authentication-kubeconfig=" + kubeconfig, "--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=127.0.0.1", "--leader-elect=false",
	}
	if err := l.start("kube-controller-manager", kcmPort, append(common,
		fmt.Sprintf("--secure-port=%d", kcmPort),
		"--cert-dir="+filepath.Join(pki, "generated-kcm"),
		"--service-account-private-key-file="+filepath.Join(pki, "sa.key"),
		"--root-ca-file="+filepath.Join(pki, "ca.crt"),
		"--cluster-signing-cert-file="+filepath.Join(pki, "ca.crt"),
		"--cluster-signing-key-file="+filepath.Join(pki, "ca.key"),
		"--use-service-account-credentials=false",
	)...); err != nil {
		return err
	}
	if err := l.start("kube-scheduler", schedPort, append(common,
		fmt.Sprintf("--secure-port=%d", schedPort),
		"--cert-dir="+filepath.Join(pki, "generated-scheduler"),
	)...); err != nil {
		return err
	}
	// kwok's published "fast" stages: nodes become Ready and keep a lease,
	// pods become Ready as soon as they are scheduled.
	stages := strings.Join([]string{nodefast.DefaultNodeInit, nodeheartbeat.DefaultNodeHeartbeatWithLease,
		podfast.DefaultPodReady, podfast.DefaultPodComplete, podfast.DefaultPodDelete}, "\n---\n")
	stagesPath := filepath.Join(dir, "kwok-stages.yaml")
	if err := os.WriteFile(stagesPath, []byte(stages), 0o600); err != nil {
		return err
	}
	if err := l.start("kwok", 0,
		"--config="+stagesPath, "--node-lease-duration-seconds=40",
		"--kubeconfig="+kubeconfig, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--cidr="+podCIDR, "--node-ip=127.0.0.1",
	); err != nil {
		return err
	}
	insecure := insecureClient()
	if err := l.waitHTTP("kube-controller-manager", fmt.Sprintf("https://127.0.0.1:%d/healthz", kcmPort), insecure); err != nil {
		return err
	}
	if err := l.waitHTTP("kube-scheduler", fmt.Sprintf("https://127.0.0.1:%d/healthz", schedPort), insecure); err != nil {
		return err
	}
	if err := l.registerNode(kubeconfig); err != nil {
		return err
	}
	if err := writeState(dir, state); err != nil {
		return err
	}
	ok = true
	fmt.Printf("cluster ready: server %s\nkubeconfig: %s\n", server, kubeconfig)
	return nil
}

type launch struct {
	dir    string
	state  *clusterState
	exited chan string
}

// start runs this binary as the named component in its own session, so the
// component outlives the launcher and is not hit by the caller's signals.
func (l *launch) start(name string, port int, args ...string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logPath := filepath.Join(l.dir, "logs", name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(self, append([]string{name}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = l.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	l.state.Components = append(l.state.Components, component{Name: name, PID: cmd.Process.Pid, Port: port, Log: logPath})
	if err := writeState(l.dir, l.state); err != nil {
		return err
	}
	go func() {
		_ = cmd.Wait()
		l.exited <- name
	}()
	return nil
}

func (l *launch) crashed() error {
	select {
	case name := <-l.exited:
		return fmt.Errorf("%s exited during start-up; last lines of its log:\n%s", name, logTail(filepath.Join(l.dir, "logs", name+".log"), 30))
	default:
		return nil
	}
}

func (l *launch) waitHTTP(name, url string, client *http.Client) error {
	deadline := time.Now().Add(readyTimeout)
	var last string
	for time.Now().Before(deadline) {
		if err := l.crashed(); err != nil {
			return err
		}
		resp, err := client.Get(url)
		if err == nil {
			body := new(bytes.Buffer)
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(body.String()))
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s at %s (%s); last lines of its log:\n%s", name, readyTimeout, url, last,
		logTail(filepath.Join(l.dir, "logs", name+".log"), 30))
}

// registerNode creates a Node that kwok manages and waits until kwok reports it Ready.
func (l *launch) registerNode(kubeconfig string) error {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("1000"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        nodeName,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"kubernetes.io/hostname": nodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"type": "kwok",
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("register node %s: %w", nodeName, err)
	}
	for {
		if err := l.crashed(); err != nil {
			return err
		}
		got, err := client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err == nil {
			for _, c := range got.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not Ready after %s; last lines of the kwok log:\n%s", nodeName, readyTimeout,
				logTail(filepath.Join(l.dir, "logs", "kwok.log"), 30))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func down(dir string) error {
	state, err := readState(dir)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Println("no cluster in", dir)
		return nil
	}
	if err != nil {
		return err
	}
	stopAll(state)
	fmt.Println("cluster stopped")
	return nil
}

// stopAll stops components in reverse start order: SIGTERM, then SIGKILL after a grace period.
func stopAll(state *clusterState) {
	for i := len(state.Components) - 1; i >= 0; i-- {
		c := state.Components[i]
		if !alive(c.PID) {
			continue
		}
		_ = syscall.Kill(c.PID, syscall.SIGTERM)
		deadline := time.Now().Add(10 * time.Second)
		for alive(c.PID) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(c.PID) {
			_ = syscall.Kill(c.PID, syscall.SIGKILL)
		}
	}
}

func status(dir string) error {
	state, err := readState(dir)
	if err != nil {
		return fmt.Errorf("no cluster state in %s: %w", dir, err)
	}
	down := 0
	for _, c := range state.Components {
		if alive(c.PID) {
			fmt.Printf("%-24s running  pid %d\n", c.Name, c.PID)
			continue
		}
		down++
		fmt.Printf("%-24s stopped  pid %d; last lines of %s:\n%s\n", c.Name, c.PID, c.Log, logTail(c.Log, 15))
	}
	fmt.Printf("server %s\nkubeconfig %s\n", state.Server, state.Kubeconfig)
	if down > 0 {
		return fmt.Errorf("%d of %d components are not running", down, len(state.Components))
	}
	return nil
}

// alive reports whether pid runs and is not a zombie left by an exited child.
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) == 0 || fields[0] != "Z"
}

func anyAlive(state *clusterState) bool {
	for _, c := range state.Components {
		if alive(c.PID) {
			return true
		}
	}
	return false
}

func readState(dir string) (*clusterState, error) {
	data, err := os.ReadFile(filepath.Join(dir, "cluster.json"))
	if err != nil {
		return nil, err
	}
	state := &clusterState{}
	return state, json.Unmarshal(data, state)
}

func writeState(dir string, state *clusterState) error {
	data, err := json.MarshalIndent(state, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "cluster.json"), data, 0o600)
}

func freePorts(n int) ([]int, error) {
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func logTail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "  (no log: " + err.Error() + ")"
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return "  " + strings.Join(all, "\n  ")
}

func writeKubeconfig(path, server, pki string) error {
	read := func(name string) (string, error) {
		data, err := os.ReadFile(filepath.Join(pki, name))
		return base64.StdEncoding.EncodeToString(data), err
	}
	ca, err := read("ca.crt")
	if err != nil {
		return err
	}
	cert, err := read("admin.crt")
	if err != nil {
		return err
	}
	key, err := read("admin.key")
	if err != nil {
		return err
	}
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: localcluster
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: localcluster
  context:
    cluster: localcluster
    user: admin
current-context: localcluster
`, server, ca, cert, key)
	return os.WriteFile(path, []byte(content), 0o600)
}

func plainClient() *http.Client { return &http.Client{Timeout: 2 * time.Second} }

func insecureClient() *http.Client {
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback health probe of a component's self-signed port
	}}
}

func adminHTTPClient(pki string) (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "admin.crt"), filepath.Join(pki, "admin.key"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}, nil
}

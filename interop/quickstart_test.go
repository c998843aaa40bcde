package interop

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestQuickstart runs the shell blocks of docs/quickstart.md, in order, in a
// fresh copy of the repository, as a new user would: `make run` in the
// background, then every other command. cosign v3 and rekor-cli are on PATH.
// The documented ports are swapped for free ones (in `make run`'s flags and
// in every block), so the test passes beside a developer's own `make run`.
func TestQuickstart(t *testing.T) {
	cosign := clientBinary(t, "cosign", "v3.1.3")
	rekorCLI := clientBinary(t, "rekor-cli", "v1.5.4")
	hallmarkBinary(t, "hallmark") // built with -trimpath: the copy below reuses the build cache
	doc, err := os.ReadFile("../docs/quickstart.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur *strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && line == "```sh":
			cur = &strings.Builder{}
		case cur != nil && line == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	if len(blocks) < 4 || strings.TrimSpace(blocks[0]) != "make run" {
		t.Fatalf("docs/quickstart.md must start with a `make run` block; found %d blocks", len(blocks))
	}

	// A copy of the working tree, so .hallmark/ and the files are fresh.
	repo := t.TempDir()
	cp := exec.Command("sh", "-c", `git ls-files -z | xargs -0 -I{} cp --parents {} "$0"`, repo)
	cp.Dir = ".."
	if out, err := cp.CombinedOutput(); err != nil {
		t.Fatalf("copying the repository: %v\n%s", err, out)
	}
	home := t.TempDir()
	env := append(os.Environ(), "PATH="+filepath.Dir(cosign)+":"+filepath.Dir(rekorCLI)+":"+os.Getenv("PATH"),
		"HOME="+home, "TUF_ROOT="+filepath.Join(home, "tuf"), "GOFLAGS=-buildvcs=false -trimpath")
	if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		// Keep the module cache of the machine: HOME is temporary.
		env = append(env, "GOPATH="+strings.TrimSpace(string(gp)), "GOCACHE="+goEnv("GOCACHE"))
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ports := quickstartPorts(t)
	for i := range blocks {
		blocks[i] = ports.rewrite(blocks[i])
	}
	runCmd := exec.CommandContext(ctx, "make", "run", "DEV_FLAGS="+ports.devFlags())
	runCmd.Dir, runCmd.Env = repo, env
	var runOut bytes.Buffer
	runCmd.Stdout, runCmd.Stderr = &runOut, &runOut
	// make and the `go run` under it are one process group: stop them all.
	runCmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	runCmd.Cancel = func() error { return syscall.Kill(-runCmd.Process.Pid, syscall.SIGINT) }
	runCmd.WaitDelay = 10 * time.Second
	if err := runCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); runCmd.Wait() }()
	logURL, caURL := "http://"+ports.addr("3000"), "http://"+ports.addr("5555")
	deadline := time.Now().Add(3 * time.Minute)
	for !ok(logURL+"/healthz") || !ok(caURL+"/healthz") {
		if time.Now().After(deadline) {
			t.Fatalf("make run did not start Hallmark:\n%s", runOut.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i, b := range blocks[1:] {
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", b)
		cmd.Dir, cmd.Env = repo, env
		// A block may leave a server running in the background (the
		// registry): each block is its own process group, ended with the test.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		defer func() {
			if cmd.Process != nil {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
		}()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("quickstart block %d failed: %v\n--- block\n%s--- output\n%s", i+2, err, b, out)
		}
	}
}

func goEnv(name string) string {
	out, _ := exec.Command("go", "env", name).Output()
	return strings.TrimSpace(string(out))
}

// quickstartPorts maps each port the quickstart documents to a free one.
type portMap map[string]string

func quickstartPorts(t *testing.T) portMap {
	m := portMap{}
	for _, p := range []string{"3000", "3001", "5555", "5554", "5556", "5557", "5000"} {
		_, port, err := net.SplitHostPort(freeAddr(t))
		if err != nil {
			t.Fatal(err)
		}
		m[p] = port
	}
	return m
}

func (m portMap) addr(documented string) string { return "127.0.0.1:" + m[documented] }

// devFlags are `hallmark dev`'s address flags for the free ports.
func (m portMap) devFlags() string {
	return strings.Join([]string{
		"--log-addr=" + m.addr("3000"), "--log-grpc-addr=" + m.addr("3001"),
		"--ca-addr=" + m.addr("5555"), "--ca-grpc-addr=" + m.addr("5554"),
		"--issuer-addr=" + m.addr("5556"), "--github-issuer-addr=" + m.addr("5557"),
	}, " ")
}

var documentedPort = regexp.MustCompile(`(127\.0\.0\.1:|localhost:|-port )(\d{4})\b`)

// rewrite swaps the documented ports of a shell block for the free ones.
func (m portMap) rewrite(block string) string {
	return documentedPort.ReplaceAllStringFunc(block, func(s string) string {
		sub := documentedPort.FindStringSubmatch(s)
		if p, ok := m[sub[2]]; ok {
			return sub[1] + p
		}
		return s
	})
}

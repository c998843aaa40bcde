package interop

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/tlog"
)

const chartDir = "../deploy/kubernetes/hallmark"

// helmTemplate renders the chart with extra values files (YAML strings).
func helmTemplate(t *testing.T, values ...string) []byte {
	t.Helper()
	helm := clientBinary(t, "helm", "v3.22.0")
	args := []string{"template", "hallmark", chartDir, "--namespace", "trust"}
	for i, v := range values {
		f := filepath.Join(t.TempDir(), fmt.Sprintf("values%d.yaml", i))
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-f", f)
	}
	cmd := exec.Command(helm, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}
	return out
}

// manifest is one rendered object, strictly decoded.
type manifest struct {
	kind, name string
	obj        any
}

// decodeManifests splits helm's output into documents and decodes each
// strictly (unknown or duplicate fields are errors) into its Kubernetes
// API type. A kind without a type here fails the test.
func decodeManifests(t *testing.T, out []byte) []manifest {
	t.Helper()
	var ms []manifest
	for _, doc := range strings.Split(string(out), "\n---") {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := sigsyaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		if head.Kind == "" {
			continue // comments only
		}
		var obj any
		switch head.APIVersion + " " + head.Kind {
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "v1 ServiceAccount":
			obj = &corev1.ServiceAccount{}
		case "apps/v1 Deployment":
			obj = &appsv1.Deployment{}
		case "policy/v1 PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		case "networking.k8s.io/v1 NetworkPolicy":
			obj = &networkingv1.NetworkPolicy{}
		case "batch/v1 CronJob":
			obj = &batchv1.CronJob{}
		case "monitoring.coreos.com/v1 ServiceMonitor":
			obj = &monitoringv1.ServiceMonitor{}
		default:
			t.Fatalf("rendered %s %s has no API type in this test", head.APIVersion, head.Kind)
		}
		if err := sigsyaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s %s does not match the Kubernetes API types: %v\n%s", head.Kind, head.Metadata.Name, err, doc)
		}
		ms = append(ms, manifest{head.Kind, head.Metadata.Name, obj})
	}
	return ms
}

func findManifest(ms []manifest, kind, name string) any {
	for _, m := range ms {
		if m.kind == kind && m.name == name {
			return m.obj
		}
	}
	return nil
}

// TestHelmChart renders the chart with its defaults and with every
// component enabled, decodes every manifest into the Kubernetes API types,
// and checks what the types cannot: the hallmark-log configuration in the
// ConfigMaps is valid for hallmark-log itself, the files it names are
// mounted, and every Deployment is hardened and probed on /healthz.
func TestHelmChart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   []string // kind/name that must be rendered
	}{
		{"defaults", nil, []string{
			"Deployment/hallmark-log", "Service/hallmark-log", "ConfigMap/hallmark-log", "PodDisruptionBudget/hallmark-log",
			"NetworkPolicy/hallmark-log", "ServiceMonitor/hallmark-log", "ServiceAccount/hallmark", "CronJob/hallmark-fsck"}},
		{"everything", []string{`
image: {registry: registry.internal:5000/trust, tag: v1.2.3}
imagePullSecrets: [{name: regcred}]
commonLabels: {team: security}
log:
  readOnly: {enabled: true}
  config:
    listen: {http: "0.0.0.0:3000", grpc: "0.0.0.0:3001"}
    database: {url_file: /etc/hallmark/database/url}
    logs:
      - {name: v2, kind: rekor-v2, url: "https://log.example.com/v2", key_file: /etc/hallmark/keys/v2.pem}
      - {name: v1, kind: rekor-v1, url: "https://log.example.com/v1", key_file: /etc/hallmark/keys/v1.pem, rekor: {tree_id: 3}}
ca:
  enabled: true
  config:
    listen: {http: "0.0.0.0:3100"}
    some: {nested: [structure, "the CA defines"]}
  secrets: [{name: ca-keys, mountPath: /etc/hallmark/keys}]
networkPolicy:
  ingressFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress}}}]
  databaseTo: [{ipBlock: {cidr: 10.0.0.0/24}}]
serviceMonitor: {labels: {release: prometheus}}
fsck: {args: [--skip-keys]}
`}, []string{"Deployment/hallmark-log", "Deployment/hallmark-log-ro", "Deployment/hallmark-ca", "ConfigMap/hallmark-ca",
			"PodDisruptionBudget/hallmark-log-ro", "PodDisruptionBudget/hallmark-ca", "NetworkPolicy/hallmark-ca",
			"ServiceMonitor/hallmark-ca", "ServiceMonitor/hallmark-log-ro", "CronJob/hallmark-fsck"}},
		{"minimal", []string{`
networkPolicy: {enabled: false}
serviceMonitor: {enabled: false}
fsck: {enabled: false}
serviceAccount: {create: false}
log: {podDisruptionBudget: null}
`}, []string{"Deployment/hallmark-log", "Service/hallmark-log"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := decodeManifests(t, helmTemplate(t, tc.values...))
			kinds := map[string]bool{}
			for _, m := range ms {
				kinds[m.kind+"/"+m.name] = true
			}
			for _, w := range tc.want {
				if !kinds[w] {
					t.Errorf("%s not rendered (got %v)", w, kinds)
				}
			}
			if tc.name == "minimal" {
				for k := range kinds {
					if strings.HasPrefix(k, "NetworkPolicy/") || strings.HasPrefix(k, "ServiceMonitor/") || strings.HasPrefix(k, "CronJob/") || strings.HasPrefix(k, "PodDisruptionBudget/") {
						t.Errorf("%s rendered although disabled", k)
					}
				}
			}
			for _, m := range ms {
				switch o := m.obj.(type) {
				case *appsv1.Deployment:
					checkDeployment(t, ms, o)
				case *batchv1.CronJob:
					checkPod(t, ms, m.name, &o.Spec.JobTemplate.Spec.Template.Spec, "hallmark-log.yaml")
				case *corev1.Service, *policyv1.PodDisruptionBudget, *networkingv1.NetworkPolicy, *monitoringv1.ServiceMonitor:
					checkSelectsPods(t, ms, m)
				}
			}
		})
	}
}

// checkDeployment checks a Deployment's pods: probes, hardening, config.
func checkDeployment(t *testing.T, ms []manifest, d *appsv1.Deployment) {
	t.Helper()
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 1 {
		t.Errorf("%s: no replicas", d.Name)
	}
	if !reflect.DeepEqual(d.Spec.Selector.MatchLabels, selectorOf(d.Spec.Template.Labels, d.Spec.Selector.MatchLabels)) {
		t.Errorf("%s: selector %v does not match the pod labels %v", d.Name, d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
	c := d.Spec.Template.Spec.Containers[0]
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s: %s probe is not GET /healthz on the http port: %+v", d.Name, name, p)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("%s: no resource requests", d.Name)
	}
	key := "hallmark-log.yaml"
	if strings.HasSuffix(d.Name, "-ca") {
		key = "hallmark-ca.yaml"
	}
	checkPod(t, ms, d.Name, &d.Spec.Template.Spec, key)
}

// checkPod checks hardening and that the configuration is mounted from its
// ConfigMap, and, for hallmark-log, that the configuration is valid and
// every file it names is under a mounted volume.
func checkPod(t *testing.T, ms []manifest, name string, pod *corev1.PodSpec, configKey string) {
	t.Helper()
	sc := pod.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("%s: pods must run as a non-root user", name)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: service account token mounted", name)
	}
	c := pod.Containers[0]
	if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem ||
		c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Errorf("%s: container is not hardened: %+v", name, c.SecurityContext)
	}
	mounts := map[string]string{} // mount path -> volume name
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	cfgVol, ok := volumes[mounts["/etc/hallmark/config"]]
	if !ok || cfgVol.ConfigMap == nil {
		t.Fatalf("%s: no configuration volume at /etc/hallmark/config", name)
	}
	cm, _ := findManifest(ms, "ConfigMap", cfgVol.ConfigMap.Name).(*corev1.ConfigMap)
	if cm == nil {
		t.Fatalf("%s: ConfigMap %s is not rendered", name, cfgVol.ConfigMap.Name)
	}
	if !strings.Contains(strings.Join(c.Args, " "), "/etc/hallmark/config/"+configKey) || cm.Data[configKey] == "" {
		t.Fatalf("%s: args %v do not name %s of ConfigMap %s", name, c.Args, configKey, cm.Name)
	}
	if configKey != "hallmark-log.yaml" {
		return
	}
	cfg, err := tlog.ParseServiceConfig([]byte(cm.Data[configKey]))
	if err != nil {
		t.Fatalf("%s: hallmark-log rejects the rendered configuration: %v\n%s", name, err, cm.Data[configKey])
	}
	if strings.HasSuffix(cm.Name, "-ro") != cfg.ReadOnly {
		t.Errorf("%s: ConfigMap %s has read_only: %v", name, cm.Name, cfg.ReadOnly)
	}
	files := []string{cfg.Database.URLFile}
	for _, l := range cfg.Logs {
		files = append(files, l.KeyFile)
	}
	for _, f := range files {
		v, ok := volumes[mounts[path.Dir(f)]]
		if !ok || v.Secret == nil {
			t.Errorf("%s: %s is not in a mounted Secret (mounts %v)", name, f, mounts)
			continue
		}
		if len(v.Secret.Items) > 0 && v.Secret.Items[0].Path != path.Base(f) {
			t.Errorf("%s: Secret %s puts its item at %s, the configuration reads %s", name, v.Secret.SecretName, v.Secret.Items[0].Path, f)
		}
	}
}

// checkSelectsPods checks that a Service, PDB, NetworkPolicy or
// ServiceMonitor selects the pods of a rendered Deployment.
func checkSelectsPods(t *testing.T, ms []manifest, m manifest) {
	t.Helper()
	var sel map[string]string
	switch o := m.obj.(type) {
	case *corev1.Service:
		sel = o.Spec.Selector
	case *policyv1.PodDisruptionBudget:
		sel = o.Spec.Selector.MatchLabels
	case *networkingv1.NetworkPolicy:
		sel = o.Spec.PodSelector.MatchLabels
	case *monitoringv1.ServiceMonitor:
		// A ServiceMonitor selects the Service, which selects the pods.
		svc, _ := findManifest(ms, "Service", m.name).(*corev1.Service)
		if svc == nil || !reflect.DeepEqual(selectorOf(svc.Labels, o.Spec.Selector.MatchLabels), o.Spec.Selector.MatchLabels) {
			t.Errorf("ServiceMonitor %s selects no rendered Service", m.name)
		}
		if len(o.Spec.Endpoints) == 0 || o.Spec.Endpoints[0].Port != "http" || o.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor %s does not scrape http /metrics", m.name)
		}
		return
	}
	d, _ := findManifest(ms, "Deployment", m.name).(*appsv1.Deployment)
	if d == nil || !reflect.DeepEqual(selectorOf(d.Spec.Template.Labels, sel), sel) || len(sel) == 0 {
		t.Errorf("%s %s selects %v, which matches no rendered Deployment's pods", m.kind, m.name, sel)
	}
}

// selectorOf returns the labels of have that sel names.
func selectorOf(have, sel map[string]string) map[string]string {
	out := map[string]string{}
	for k := range sel {
		if v, ok := have[k]; ok {
			out[k] = v
		}
	}
	return out
}

// TestComposeFile decodes deploy/compose/compose.yaml strictly into the
// subset of the Compose specification it uses, and checks it against the
// hallmark-log configuration next to it: the configuration is valid, and
// every file it names is mounted or a declared secret.
func TestComposeFile(t *testing.T) {
	type service struct {
		Image           string            `yaml:"image"`
		Restart         string            `yaml:"restart"`
		Command         []string          `yaml:"command"`
		Entrypoint      []string          `yaml:"entrypoint"`
		Environment     map[string]string `yaml:"environment"`
		Profiles        []string          `yaml:"profiles"`
		DependsOn       yaml.Node         `yaml:"depends_on"`
		Ports           []string          `yaml:"ports"`
		User            string            `yaml:"user"`
		ReadOnly        bool              `yaml:"read_only"`
		CapDrop         []string          `yaml:"cap_drop"`
		SecurityOpt     []string          `yaml:"security_opt"`
		StopGracePeriod string            `yaml:"stop_grace_period"`
		ShmSize         string            `yaml:"shm_size"`
		Volumes         []string          `yaml:"volumes"`
		Secrets         []yaml.Node       `yaml:"secrets"`
		Healthcheck     *struct {
			Test     []string `yaml:"test"`
			Interval string   `yaml:"interval"`
			Timeout  string   `yaml:"timeout"`
			Retries  int      `yaml:"retries"`
		} `yaml:"healthcheck"`
	}
	var compose struct {
		Name     string             `yaml:"name"`
		Services map[string]service `yaml:"services"`
		Secrets  map[string]struct {
			File string `yaml:"file"`
		} `yaml:"secrets"`
		Volumes map[string]struct{} `yaml:"volumes"`
	}
	raw, err := os.ReadFile("../deploy/compose/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	logSvc, ok := compose.Services["hallmark-log"]
	if !ok || compose.Services["postgres"].Healthcheck == nil {
		t.Fatal("compose.yaml needs hallmark-log and a health-checked postgres")
	}
	cfgRaw, err := os.ReadFile("../deploy/compose/hallmark-log.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tlog.ParseServiceConfig(cfgRaw)
	if err != nil {
		t.Fatalf("deploy/compose/hallmark-log.yaml: %v", err)
	}
	for name, svc := range compose.Services {
		if strings.HasPrefix(name, "hallmark") || name == "fsck" {
			if svc.User == "" || svc.User[0] == '0' || !svc.ReadOnly {
				t.Errorf("service %s must run as non-root with a read-only file system", name)
			}
		}
		for _, s := range svc.Secrets {
			src := s.Value
			if s.Kind == yaml.MappingNode {
				var long struct {
					Source, Target string
					Mode           int
				}
				s.Decode(&long)
				src = long.Source
			}
			if _, ok := compose.Secrets[src]; !ok {
				t.Errorf("service %s uses undeclared secret %q", name, src)
			}
		}
	}
	mounted := func(svc service, f string) bool {
		if name, ok := strings.CutPrefix(f, "/run/secrets/"); ok {
			for _, s := range svc.Secrets {
				var long struct{ Source, Target string }
				if s.Kind == yaml.MappingNode {
					s.Decode(&long)
				}
				if s.Value == name || long.Target == name || (long.Target == "" && long.Source == name) {
					return true
				}
			}
			return false
		}
		for _, v := range svc.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && (f == parts[1] || strings.HasPrefix(f, parts[1]+"/")) {
				return true
			}
		}
		return false
	}
	for _, f := range []string{cfg.Database.URLFile, cfg.Logs[0].KeyFile, cfg.Logs[1].KeyFile} {
		if !mounted(logSvc, f) {
			t.Errorf("hallmark-log reads %s, which compose.yaml does not mount", f)
		}
	}

	// hallmark-ca.yaml beside it: valid, listening on the published ports,
	// reading only mounted files and its own secrets.
	caSvc := compose.Services["hallmark-ca"]
	caCfg, err := ca.LoadConfig("../deploy/compose/hallmark-ca.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct{ addr, port string }{{caCfg.Listen.HTTP, "3100"}, {caCfg.Listen.GRPC, "3101"}} {
		if !strings.HasSuffix(l.addr, ":"+l.port) || !slices.Contains(caSvc.Ports, l.port+":"+l.port) {
			t.Errorf("hallmark-ca listens on %s, compose.yaml publishes %v", l.addr, caSvc.Ports)
		}
	}
	for _, sc := range []ca.SignerConfig{caCfg.Signer, caCfg.TSA.Signer} {
		for _, f := range []string{sc.ChainFile, sc.File.KeyFile, sc.File.PasswordFile} {
			if !mounted(caSvc, f) {
				t.Errorf("hallmark-ca reads %s, which compose.yaml does not mount or give it as a secret", f)
			}
		}
	}
}

// TestDeployExamples: the annotated example configurations parse.
func TestDeployExamples(t *testing.T) {
	if _, err := tlog.LoadServiceConfig("../deploy/examples/hallmark-log.yaml"); err != nil {
		t.Error(err)
	}
	cfg, err := ca.LoadConfig("../deploy/examples/hallmark-ca.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TSA == nil || cfg.CT.URL == "" || cfg.Listen.HTTP != "127.0.0.1:5555" {
		t.Errorf("deploy/examples/hallmark-ca.yaml: %+v", cfg)
	}
}

// TestSystemdUnits checks the units against the configuration next to
// them: every credential path the configuration reads is loaded by the
// unit that runs with it.
func TestSystemdUnits(t *testing.T) {
	cfg, err := tlog.LoadServiceConfig("../deploy/systemd/hallmark-log.yaml")
	if err != nil {
		t.Fatal(err)
	}
	caCfg, err := ca.LoadConfig("../deploy/systemd/hallmark-ca.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reads := map[string][]string{
		"hallmark-log.service":  {cfg.Database.URLFile, cfg.Logs[0].KeyFile, cfg.Logs[1].KeyFile},
		"hallmark-fsck.service": {cfg.Database.URLFile, cfg.Logs[0].KeyFile, cfg.Logs[1].KeyFile},
		"hallmark-ca.service":   {caCfg.Signer.File.KeyFile, caCfg.Signer.File.PasswordFile},
	}
	for _, unit := range []string{"hallmark-log.service", "hallmark-fsck.service", "hallmark-ca.service"} {
		f, err := os.Open(filepath.Join("../deploy/systemd", unit))
		if err != nil {
			t.Fatal(err)
		}
		creds := map[string]bool{}
		var execStart string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), "=")
			switch {
			case !ok:
			case k == "LoadCredential":
				name, _, _ := strings.Cut(v, ":")
				creds[name] = true
			case k == "ExecStart":
				execStart = v
			}
		}
		f.Close()
		config := "hallmark-log.yaml"
		if unit == "hallmark-ca.service" {
			config = "hallmark-ca.yaml"
		}
		if !strings.Contains(execStart, "--config /etc/hallmark/"+config) {
			t.Errorf("%s: ExecStart %q does not read /etc/hallmark/%s", unit, execStart, config)
		}
		credUnit := strings.Replace(unit, "hallmark-fsck", "hallmark-log", 1) // fsck reads the log's paths
		for _, p := range reads[unit] {
			dir, name := path.Split(p)
			if dir != "/run/credentials/"+credUnit+"/" || !creds[name] {
				t.Errorf("%s: the configuration reads %s, which is not a credential of the unit (%v)", unit, p, creds)
			}
		}
	}
}

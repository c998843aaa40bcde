// Package images builds Hallmark's container images without a container
// daemon: each command is compiled as a static Go binary (CGO_ENABLED=0,
// -trimpath) for every platform, laid on a minimal base (CA certificates,
// a passwd entry for the unprivileged user 65532, nothing else: no shell),
// and pushed with go-containerregistry as an OCI image index. Each index
// gets an SPDX SBOM, made from the binary's embedded build information,
// pushed beside it under cosign's tag convention (sha256-<digest>.sbom).
//
// Builds are reproducible: file times and the image creation time come
// from SourceDateEpoch, so the same source and toolchain give the same
// digests.
package images

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NonRootUID is the user the images run as (distroless' "nonroot").
const NonRootUID = 65532

// SBOMMediaType is the media type of the SBOM layer (as cosign attach sbom).
const SBOMMediaType = "text/spdx+json"

// Options describe a build.
type Options struct {
	// Source is the root of the Hallmark main module.
	Source string
	// Commands to build, as directories under cmd/. Missing ones are
	// skipped with a warning unless Require is set.
	Commands []string
	Require  bool
	// Platforms as os/arch, e.g. linux/amd64, linux/arm64.
	Platforms []string
	// Repository prefix images are pushed under, e.g.
	// registry.example.com/hallmark: images are <Repository>/<command>.
	Repository string
	// Tag of every image.
	Tag string
	// Insecure allows plain-HTTP registries.
	Insecure bool
	// Version is recorded in the image labels; default Tag.
	Version string
	// SourceDateEpoch is the time of every file and of image creation.
	SourceDateEpoch time.Time
	// CACerts is a PEM bundle installed as the system roots; empty skips.
	CACerts string
	Logger  *slog.Logger
}

// Result is one pushed image.
type Result struct {
	Command string
	Ref     string // repository:tag@digest of the index
	Digest  v1.Hash
	SBOM    string // reference of the SBOM
	// SBOMData is the SPDX document itself.
	SBOMData []byte
}

// Build compiles, assembles and pushes the images.
func Build(ctx context.Context, opts Options) ([]Result, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Version == "" {
		opts.Version = opts.Tag
	}
	if len(opts.Platforms) == 0 {
		opts.Platforms = []string{runtime.GOOS + "/" + runtime.GOARCH}
	}
	nameOpts := []name.Option{name.StrictValidation}
	if opts.Insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	remoteOpts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	base, err := baseLayer(opts)
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "hallmark-images")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	var out []Result
	for _, cmd := range opts.Commands {
		if _, err := os.Stat(filepath.Join(opts.Source, "cmd", cmd)); err != nil {
			if opts.Require {
				return nil, fmt.Errorf("command %s: %w", cmd, err)
			}
			opts.Logger.Warn("skipping a command that is not in this tree", "command", cmd)
			continue
		}
		idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
		var sbom []byte
		for _, p := range opts.Platforms {
			goos, arch, ok := strings.Cut(p, "/")
			if !ok {
				return nil, fmt.Errorf("platform %q is not os/arch", p)
			}
			bin := filepath.Join(work, cmd+"-"+goos+"-"+arch)
			if err := goBuild(ctx, opts.Source, cmd, goos, arch, bin); err != nil {
				return nil, err
			}
			img, err := image(opts, base, cmd, goos, arch, bin)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", cmd, p, err)
			}
			if sbom == nil {
				if sbom, err = SPDX(bin, cmd, opts.Version, opts.SourceDateEpoch); err != nil {
					return nil, fmt.Errorf("%s: SBOM: %w", cmd, err)
				}
			}
			idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
				Platform: &v1.Platform{OS: goos, Architecture: arch}}})
		}
		ref, err := name.NewTag(opts.Repository+"/"+cmd+":"+opts.Tag, nameOpts...)
		if err != nil {
			return nil, fmt.Errorf("image name: %w", err)
		}
		if err := remote.WriteIndex(ref, idx, remoteOpts...); err != nil {
			return nil, fmt.Errorf("couldn't push %s: %w", ref, err)
		}
		digest, err := idx.Digest()
		if err != nil {
			return nil, err
		}
		sbomRef, err := pushSBOM(ref, digest, sbom, opts, remoteOpts)
		if err != nil {
			return nil, err
		}
		r := Result{Command: cmd, Ref: ref.String() + "@" + digest.String(), Digest: digest, SBOM: sbomRef, SBOMData: sbom}
		opts.Logger.Info("pushed", "image", r.Ref, "sbom", r.SBOM)
		out = append(out, r)
	}
	return out, nil
}

// goBuild compiles a static, reproducible binary of cmd/<cmd>.
func goBuild(ctx context.Context, src, cmd, goos, arch, out string) error {
	c := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, "./cmd/"+cmd)
	c.Dir = src
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+arch, "GOFLAGS=")
	if b, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s/%s: %w\n%s", cmd, goos, arch, err, b)
	}
	return nil
}

// tarFile is one file of a layer.
type tarFile struct {
	name string
	mode int64
	data []byte
	dir  bool
	uid  int // owner (and group)
}

func layer(files []tarFile, mtime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime, Typeflag: tar.TypeReg,
			Uid: f.uid, Gid: f.uid, Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// baseLayer holds what a static Go server needs from an OS: the user
// database entries of the unprivileged user, CA roots, and /tmp.
func baseLayer(opts Options) (v1.Layer, error) {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", NonRootUID, NonRootUID)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", NonRootUID)
	files := []tarFile{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, dir: true, uid: NonRootUID},
		{name: "tmp/", mode: 0o1777, dir: true},
	}
	if opts.CACerts != "" {
		pem, err := os.ReadFile(opts.CACerts)
		if err != nil {
			return nil, fmt.Errorf("CA certificates: %w", err)
		}
		files = append(files, tarFile{name: "etc/ssl/", mode: 0o755, dir: true}, tarFile{name: "etc/ssl/certs/", mode: 0o755, dir: true},
			tarFile{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: pem})
	}
	l, err := layer(files, opts.SourceDateEpoch)
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}
	return l, nil
}

func image(opts Options, base v1.Layer, cmd, goos, arch, bin string) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	app, err := layer([]tarFile{
		{name: "usr/", mode: 0o755, dir: true}, {name: "usr/local/", mode: 0o755, dir: true},
		{name: "usr/local/bin/", mode: 0o755, dir: true},
		{name: "usr/local/bin/" + cmd, mode: 0o755, data: data},
	}, opts.SourceDateEpoch)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, base, app)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = goos, arch
	cf.Created = v1.Time{Time: opts.SourceDateEpoch}
	cf.Config.Entrypoint = []string{"/usr/local/bin/" + cmd}
	cf.Config.User = fmt.Sprintf("%d:%d", NonRootUID, NonRootUID)
	cf.Config.WorkingDir = "/home/nonroot"
	cf.Config.Env = []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "HOME=/home/nonroot"}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":   cmd,
		"org.opencontainers.image.source":  "https://github.com/hallmark-dev/hallmark",
		"org.opencontainers.image.version": opts.Version,
		"org.opencontainers.image.created": opts.SourceDateEpoch.UTC().Format(time.RFC3339),
	}
	return mutate.ConfigFile(img, cf)
}

// pushSBOM pushes the SBOM as a one-layer image tagged
// sha256-<index digest>.sbom in the image's repository, where cosign
// (`cosign download sbom`, `cosign attest`) looks for it.
func pushSBOM(ref name.Tag, digest v1.Hash, sbom []byte, opts Options, remoteOpts []remote.Option) (string, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.Append(img, mutate.Addendum{Layer: static.NewLayer(sbom, SBOMMediaType)})
	if err != nil {
		return "", err
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: opts.SourceDateEpoch}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", err
	}
	tag := ref.Context().Tag(strings.ReplaceAll(digest.String(), ":", "-") + ".sbom")
	if err := remote.Write(tag, img, remoteOpts...); err != nil {
		return "", fmt.Errorf("couldn't push SBOM %s: %w", tag, err)
	}
	return tag.String(), nil
}

// SPDX returns an SPDX 2.3 JSON document listing the binary's Go module
// and every module compiled into it, from the binary's build information.
func SPDX(bin, cmd, version string, created time.Time) ([]byte, error) {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	type checksum struct {
		Algorithm     string `json:"algorithm"`
		ChecksumValue string `json:"checksumValue"`
	}
	type extRef struct {
		Category string `json:"referenceCategory"`
		Type     string `json:"referenceType"`
		Locator  string `json:"referenceLocator"`
	}
	type pkg struct {
		SPDXID           string   `json:"SPDXID"`
		Name             string   `json:"name"`
		VersionInfo      string   `json:"versionInfo,omitempty"`
		DownloadLocation string   `json:"downloadLocation"`
		FilesAnalyzed    bool     `json:"filesAnalyzed"`
		ExternalRefs     []extRef `json:"externalRefs,omitempty"`
		Comment          string   `json:"comment,omitempty"`
	}
	type rel struct {
		Element string `json:"spdxElementId"`
		Type    string `json:"relationshipType"`
		Related string `json:"relatedSpdxElement"`
	}
	purl := func(path, v string) []extRef {
		if v == "" || v == "(devel)" {
			return nil
		}
		return []extRef{{"PACKAGE-MANAGER", "purl", "pkg:golang/" + path + "@" + v}}
	}
	mainID := "SPDXRef-Package-" + cmd
	pkgs := []pkg{{SPDXID: mainID, Name: bi.Main.Path, VersionInfo: version, DownloadLocation: "NOASSERTION",
		Comment: fmt.Sprintf("command %s, built with %s", bi.Path, bi.GoVersion)}}
	rels := []rel{{"SPDXRef-DOCUMENT", "DESCRIBES", mainID}}
	for i, d := range bi.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		id := fmt.Sprintf("SPDXRef-Module-%d", i)
		p := pkg{SPDXID: id, Name: m.Path, VersionInfo: m.Version, DownloadLocation: "NOASSERTION", ExternalRefs: purl(m.Path, m.Version)}
		if m.Sum != "" {
			p.Comment = "go.sum " + m.Sum
		}
		pkgs = append(pkgs, p)
		rels = append(rels, rel{mainID, "DEPENDS_ON", id})
	}
	doc := map[string]any{
		"spdxVersion":       "SPDX-2.3",
		"dataLicense":       "CC0-1.0",
		"SPDXID":            "SPDXRef-DOCUMENT",
		"name":              cmd + "-" + version,
		"documentNamespace": "https://github.com/hallmark-dev/hallmark/spdx/" + cmd + "-" + version,
		"creationInfo": map[string]any{
			"created":  created.UTC().Format(time.RFC3339),
			"creators": []string{"Tool: hallmark deploy/images"},
		},
		"packages":      pkgs,
		"relationships": rels,
	}
	return json.MarshalIndent(doc, "", "  ")
}

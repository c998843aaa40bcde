package adopt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/google/trillian"
	"github.com/google/trillian/client"
	"github.com/google/trillian/types"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TrillianOptions say how to reach a Trillian log server.
type TrillianOptions struct {
	// Address is the log server's gRPC address, host:port.
	Address string
	// TreeID is the log's tree ID (Rekor's active tree).
	TreeID int64
	// Insecure connects without TLS (Trillian's default deployment inside
	// a cluster). Otherwise TLS is used, verified with CAFile if set, else
	// with the system roots.
	Insecure bool
	CAFile   string
	// ServerName overrides the name expected in the server's certificate.
	ServerName string
	// Timeout bounds each RPC. Default one minute.
	Timeout time.Duration
}

// TrillianSource reads a Trillian log over gRPC. Trillian v1.7 log roots
// carry no signature, so what can be checked is checked: the tree must be
// an RFC 6962 log (read with the admin API), roots are parsed with
// trillian's types.LogRootV1 through client.LogVerifier, and the Importer
// proves every root it computes from the leaves consistent with the
// server's root using the server's consistency proofs.
type TrillianSource struct {
	conn     *grpc.ClientConn
	log      trillian.TrillianLogClient
	treeID   int64
	timeout  time.Duration
	verifier *client.LogVerifier
	// Tree is the tree's configuration, if the admin API answered.
	Tree *trillian.Tree
}

var _ Source = (*TrillianSource)(nil)

// maxLeavesMessage bounds a GetLeavesByRange answer; Rekor leaves are a
// few KiB, and gRPC's default limit of 4 MiB would cap reads at ~1000.
const maxLeavesMessage = 256 << 20

// DialTrillian connects to a Trillian log server and checks the tree.
func DialTrillian(ctx context.Context, o TrillianOptions) (*TrillianSource, error) {
	if o.TreeID <= 0 {
		return nil, errors.New("trillian: a positive tree ID is required")
	}
	var creds credentials.TransportCredentials
	if o.Insecure {
		creds = insecure.NewCredentials()
	} else {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("trillian: couldn't read CA file: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("trillian: no certificates in %s", o.CAFile)
			}
		}
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(o.Address, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxLeavesMessage)))
	if err != nil {
		return nil, fmt.Errorf("trillian: couldn't connect to %s: %w", o.Address, err)
	}
	s := &TrillianSource{conn: conn, log: trillian.NewTrillianLogClient(conn), treeID: o.TreeID, timeout: o.Timeout}
	if s.timeout <= 0 {
		s.timeout = time.Minute
	}
	if err := s.checkTree(ctx, trillian.NewTrillianAdminClient(conn)); err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// checkTree reads the tree's configuration: it must be a plain log (a
// pre-ordered log is not what Rekor runs). Deployments that do not expose
// the admin API get the RFC 6962 verifier Rekor's trees always use.
func (s *TrillianSource) checkTree(ctx context.Context, admin trillian.TrillianAdminClient) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tree, err := admin.GetTree(ctx, &trillian.GetTreeRequest{TreeId: s.treeID})
	switch status.Code(err) {
	case codes.OK:
	case codes.Unimplemented, codes.PermissionDenied, codes.Unauthenticated:
		s.verifier = client.NewLogVerifier(rfc6962.DefaultHasher)
		return nil
	case codes.NotFound:
		return fmt.Errorf("trillian: tree %d does not exist: %w", s.treeID, err)
	default:
		return fmt.Errorf("trillian: couldn't read tree %d: %w", s.treeID, err)
	}
	if tree.TreeType != trillian.TreeType_LOG {
		return fmt.Errorf("trillian: tree %d is a %v, not a LOG", s.treeID, tree.TreeType)
	}
	if s.verifier, err = client.NewLogVerifierFromTree(tree); err != nil {
		return fmt.Errorf("trillian: tree %d: %w", s.treeID, err)
	}
	s.Tree = tree
	return nil
}

// Close closes the connection.
func (s *TrillianSource) Close() error { return s.conn.Close() }

// LatestRoot returns the latest log root, parsed and checked by trillian's
// LogVerifier (which has no signature to check in Trillian v1.7).
func (s *TrillianSource) LatestRoot(ctx context.Context) (Root, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	resp, err := s.log.GetLatestSignedLogRoot(ctx, &trillian.GetLatestSignedLogRootRequest{LogId: s.treeID})
	if err != nil {
		return Root{}, fmt.Errorf("trillian: GetLatestSignedLogRoot: %w", err)
	}
	r, err := s.verifier.VerifyRoot(&types.LogRootV1{}, resp.GetSignedLogRoot(), nil)
	if err != nil {
		return Root{}, fmt.Errorf("trillian: invalid log root: %w", err)
	}
	return Root{Size: r.TreeSize, Hash: r.RootHash, Time: time.Unix(0, int64(r.TimestampNanos))}, nil
}

// Leaves reads leaves with GetLeavesByRange.
func (s *TrillianSource) Leaves(ctx context.Context, start, count uint64) ([]Leaf, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	resp, err := s.log.GetLeavesByRange(ctx, &trillian.GetLeavesByRangeRequest{LogId: s.treeID, StartIndex: int64(start), Count: int64(count)})
	if err != nil {
		return nil, fmt.Errorf("trillian: GetLeavesByRange(%d, %d): %w", start, count, err)
	}
	out := make([]Leaf, 0, len(resp.Leaves))
	for _, l := range resp.Leaves {
		if uint64(len(out)) == count {
			break
		}
		if err := l.GetIntegrateTimestamp().CheckValid(); err != nil {
			return nil, fmt.Errorf("trillian: leaf %d has no valid integration time: %w", l.LeafIndex, err)
		}
		out = append(out, Leaf{
			Index:      uint64(l.LeafIndex),
			Value:      l.LeafValue,
			LeafHash:   l.MerkleLeafHash,
			Integrated: l.IntegrateTimestamp.AsTime(),
		})
	}
	return out, nil
}

// ConsistencyProof reads a consistency proof with GetConsistencyProof.
func (s *TrillianSource) ConsistencyProof(ctx context.Context, first, second uint64) ([][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	resp, err := s.log.GetConsistencyProof(ctx, &trillian.GetConsistencyProofRequest{LogId: s.treeID, FirstTreeSize: int64(first), SecondTreeSize: int64(second)})
	if err != nil {
		return nil, fmt.Errorf("trillian: GetConsistencyProof(%d, %d): %w", first, second, err)
	}
	return resp.GetProof().GetHashes(), nil
}

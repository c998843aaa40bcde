package quota

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"gopkg.in/yaml.v3"
)

// Proxies are the reverse proxies trusted to name the client in
// X-Forwarded-For, as address prefixes. Empty (the default) trusts none:
// the client is the peer of the TCP connection, and X-Forwarded-For is
// ignored, since any client can send it.
type Proxies []netip.Prefix

// ParseProxies parses addresses ("10.1.2.3") and prefixes ("10.0.0.0/8").
func ParseProxies(list []string) (Proxies, error) {
	p := make(Proxies, 0, len(list))
	for _, s := range list {
		if strings.Contains(s, "/") {
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", s, err)
			}
			p = append(p, pfx.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", s, err)
		}
		a = a.Unmap()
		p = append(p, netip.PrefixFrom(a, a.BitLen()))
	}
	return p, nil
}

// UnmarshalYAML decodes a list of addresses and prefixes.
func (p *Proxies) UnmarshalYAML(n *yaml.Node) error {
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	parsed, err := ParseProxies(list)
	if err != nil {
		return err
	}
	*p = parsed
	return nil
}

// trusted reports whether a is a trusted proxy.
func (p Proxies) trusted(a netip.Addr) bool {
	for _, pfx := range p {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// Client returns the address a request comes from. remote is the peer of
// the connection (host:port). When it is a trusted proxy, the addresses of
// X-Forwarded-For (every header, in order) are walked from the right, each
// added by the hop after it: the first that is not a trusted proxy is the
// client. A value that does not parse ends the walk at the hop that
// forwarded it, and a chain of trusted proxies only ends at its leftmost.
func (p Proxies) Client(remote string, forwardedFor []string) netip.Addr {
	client := parseHostPort(remote)
	if len(p) == 0 || !client.IsValid() || !p.trusted(client) {
		return client
	}
	var hops []string
	for _, h := range forwardedFor {
		for v := range strings.SplitSeq(h, ",") {
			hops = append(hops, strings.TrimSpace(v))
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			if a = parseHostPort(hops[i]); !a.IsValid() {
				return client
			}
		}
		client = a.Unmap()
		if !p.trusted(client) {
			return client
		}
	}
	return client
}

func parseHostPort(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.WithZone("").Unmap()
}

// AddressKey is the quota key of a client address: an IPv4 address
// itself, an IPv6 address's /64 (one host usually holds a whole /64, so
// keying by address would let it take 2^64 keys). An invalid address
// (a peer that is not TCP) is the key "unknown".
func AddressKey(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is4():
		return a.String()
	}
	pfx, _ := a.Prefix(64)
	return pfx.String()
}

// HTTPKey is the address key of an HTTP request.
func (p Proxies) HTTPKey(r *http.Request) string {
	return AddressKey(p.Client(r.RemoteAddr, r.Header.Values("X-Forwarded-For")))
}

// GRPCKey is the address key of a gRPC call.
func (p Proxies) GRPCKey(ctx context.Context) string {
	remote := ""
	if pr, ok := peer.FromContext(ctx); ok && pr.Addr != nil {
		remote = pr.Addr.String()
	}
	var xff []string
	if len(p) > 0 {
		md, _ := metadata.FromIncomingContext(ctx)
		xff = md.Get("x-forwarded-for")
	}
	return AddressKey(p.Client(remote, xff))
}

package fulcioapi

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/internal/quota"
	"github.com/hallmark-dev/hallmark/oidc"
)

// quotas are hallmark-ca's limiters on certificate requests. A nil
// limiter (an unlimited scope) allows everything.
type quotas struct {
	proxies     quota.Proxies
	perAddress  *quota.Limiter
	total       *quota.Limiter
	perIdentity *quota.Limiter            // identities of issuers without their own
	issuers     map[string]issuerLimiters // by configured issuer url
}

type issuerLimiters struct {
	perIdentity, total *quota.Limiter
}

func newQuotas(cfg ca.QuotaConfig, r prometheus.Registerer) *quotas {
	cfg = cfg.PerReplica()
	m := quota.NewMetrics("hallmark_ca", "issuer", r)
	opts := func(scope, issuer string, l quota.Limit) quota.Options {
		return quota.Options{Limit: l, Scope: scope, Label: issuer, MaxKeys: cfg.MaxKeys, Metrics: m}
	}
	q := &quotas{
		proxies:     cfg.TrustedProxies,
		perAddress:  quota.New(opts("per client address", "", cfg.PerAddress)),
		total:       quota.New(opts("total", "", cfg.Total)),
		perIdentity: quota.New(opts("per identity", "", cfg.PerIdentity)),
		issuers:     map[string]issuerLimiters{},
	}
	for url, iq := range cfg.Issuers {
		q.issuers[url] = issuerLimiters{
			perIdentity: quota.New(opts("per identity", url, iq.PerIdentity)),
			total:       quota.New(opts("issuer total", url, iq.Total)),
		}
	}
	return q
}

// checkCaller applies the per-address limit, then the total, before a
// request's body is read: a caller its own limit refuses takes nothing
// from everyone's total.
func (q *quotas) checkCaller(addressKey string) error {
	if err := q.perAddress.Check(addressKey); err != nil {
		return err
	}
	return q.total.Check("")
}

// checkIdentity applies the limits of a verified identity: the one of its
// issuer (or the default), keyed by token issuer and subject, then its
// issuer's total.
func (q *quotas) checkIdentity(v *oidc.Verifier, id *oidc.Identity) error {
	perIdentity, issuerTotal := q.perIdentity, (*quota.Limiter)(nil)
	if url, ok := v.ConfiguredURL(id.Issuer); ok {
		if il, ok := q.issuers[url]; ok {
			perIdentity, issuerTotal = il.perIdentity, il.total
		}
	}
	if err := perIdentity.Check(id.Issuer + "\x00" + id.Subject); err != nil {
		return fmt.Errorf("identity %s of %s: %w", id.Subject, id.Issuer, err)
	}
	if err := issuerTotal.Check(""); err != nil {
		return fmt.Errorf("issuer %s: %w", id.Issuer, err)
	}
	return nil
}

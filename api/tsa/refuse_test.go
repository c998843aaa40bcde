package tsaapi_test

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/digitorus/timestamp"
	"github.com/prometheus/client_golang/prometheus"

	tsaapi "github.com/hallmark-dev/hallmark/api/tsa"
)

func rejected(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "hallmark_tsa_requests_rejected_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestRefuse: refusals by the admission budget are DER rejections, 503 with
// Retry-After for overload (reason overloaded) and 413 for a declared
// length over the limit.
func TestRefuse(t *testing.T) {
	tsa, _ := newTSA(t)
	reg := prometheus.NewRegistry()
	s := tsaapi.New(tsa, tsaapi.Options{Registerer: reg})
	for _, tc := range []struct {
		tooLarge bool
		code     int
		retry    string
		reason   string
	}{
		{false, 503, "1", "overloaded"},
		{true, 413, "", "bad_request"},
	} {
		rec := httptest.NewRecorder()
		s.Refuse(rec, httptest.NewRequest("POST", "/api/v1/timestamp", nil), tc.tooLarge, errors.New("refused"))
		if rec.Code != tc.code || rec.Header().Get("Retry-After") != tc.retry || rec.Header().Get("Content-Type") != "application/timestamp-reply" {
			t.Errorf("tooLarge=%v: %d %v", tc.tooLarge, rec.Code, rec.Header())
		}
		resp, err := timestamp.ParseResponse(rec.Body.Bytes())
		if resp != nil || err == nil {
			t.Errorf("tooLarge=%v: not a rejection: %v", tc.tooLarge, err)
		}
		if n := rejected(t, reg, tc.reason); n != 1 {
			t.Errorf("reason %s counted %v times", tc.reason, n)
		}
	}
}

package helpcrunch

import "github.com/crm-gateway/crm-gateway/internal/crm"

// PerItemWrites reports that HelpCrunch creates customers with one request
// each (it has no batch create); updates go out in one PUT /customers/batch
// per chunk. The job runner records creates item by item.
func (a *Adapter) PerItemWrites(m crm.Mode) bool { return m == crm.ModeCreate }

// EstimateRequests estimates the requests of a batch of n items: one per
// create; one per chunk for updates; for upserts at least one lookup per
// item plus one update request per chunk.
func (a *Adapter) EstimateRequests(m crm.Mode, n int) int {
	chunks := (n + a.batchSize - 1) / max(a.batchSize, 1)
	switch m {
	case crm.ModeCreate:
		return n
	case crm.ModeUpsert:
		return n + chunks
	default:
		return chunks
	}
}

package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// QueueLevel is one connection's bulk-job queue at scrape time.
type QueueLevel struct {
	Depth  int           // chunks waiting or being worked on
	Oldest time.Duration // how long the oldest of them has been queued
}

var (
	queueDepthDesc = prometheus.NewDesc(Namespace+"_job_queue_depth",
		"Bulk-job chunks waiting or being worked on, by connection (shared by every replica when jobs live in Redis).",
		[]string{"connection"}, nil)
	queueAgeDesc = prometheus.NewDesc(Namespace+"_job_queue_oldest_seconds",
		"Age of the oldest queued bulk-job chunk, by connection.", []string{"connection"}, nil)
)

// queueCollector reads the job queues when Prometheus scrapes, so the
// figures are current without a background poller.
type queueCollector struct {
	levels func(context.Context) (map[string]QueueLevel, error)
}

func (q queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- queueAgeDesc
}

func (q queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	levels, err := q.levels(ctx)
	if err != nil {
		return // a scrape must not fail because the job store is slow; the series just go missing
	}
	for conn, l := range levels {
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(l.Depth), conn)
		ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, l.Oldest.Seconds(), conn)
	}
}

// WatchJobQueues exports job queue depth and age, read at each scrape.
func (m *Metrics) WatchJobQueues(levels func(context.Context) (map[string]QueueLevel, error)) {
	if m == nil {
		return
	}
	m.reg.MustRegister(queueCollector{levels: levels})
}

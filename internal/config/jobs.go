package config

import "time"

// Jobs configures bulk jobs: batches run asynchronously by every replica's
// workers. With redis.url they live in Redis and survive any replica;
// without, in the one replica's memory.
type Jobs struct {
	// Retention is how long a job and its results are kept after its last
	// activity (default 168h).
	Retention time.Duration `yaml:"retention"`
	// VisibilityTimeout is how long a chunk may go untouched by its worker
	// before another replica takes it over (default 30s).
	VisibilityTimeout time.Duration `yaml:"visibility_timeout"`
	// Workers is how many chunks each replica writes at once (default 4).
	Workers int `yaml:"workers"`
	// MaxBodyBytes caps a batch body streamed into a job (default 256 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// KeyPrefix names the job store's Redis keys, after redis.prefix
	// (default "jobs": keys {<redis.prefix>jobs}:...); gateways sharing it
	// share their jobs.
	KeyPrefix string `yaml:"key_prefix"`
}

func (j *Jobs) applyDefaults() {
	j.Retention = or(j.Retention, 168*time.Hour)
	j.VisibilityTimeout = or(j.VisibilityTimeout, 30*time.Second)
	j.Workers = or(j.Workers, 4)
	j.MaxBodyBytes = or(j.MaxBodyBytes, 256<<20)
	j.KeyPrefix = or(j.KeyPrefix, "jobs")
}

func (j *Jobs) validate(bad func(field, format string, args ...any)) {
	if j.Retention < time.Minute {
		bad("jobs.retention", "must be at least 1m")
	}
	if j.VisibilityTimeout < 100*time.Millisecond {
		bad("jobs.visibility_timeout", "must be at least 100ms")
	}
	if j.Workers < 1 || j.Workers > 256 {
		bad("jobs.workers", "must be between 1 and 256")
	}
	if j.MaxBodyBytes < 1 {
		bad("jobs.max_body_bytes", "must be positive")
	}
	for _, c := range j.KeyPrefix {
		if c == '{' || c == '}' {
			bad("jobs.key_prefix", "must not contain braces")
			break
		}
	}
}

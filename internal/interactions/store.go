package interactions

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Store keeps small documents with a time to live: hosted histories and
// the callers' `extra` of open interactions.
type Store interface {
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Get returns the value, or ok false when it is absent or expired.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
}

// RedisStore is a Store in Redis, shared by every replica, so a vendor may
// fetch a history from any of them.
type RedisStore struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedisStore returns a Store keeping keys under prefix (e.g. "ix:").
func NewRedisStore(rdb redis.UniversalClient, prefix string) *RedisStore {
	return &RedisStore{rdb: rdb, prefix: prefix}
}

// Put implements Store.
func (s *RedisStore) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := s.rdb.Set(ctx, s.prefix+key, value, ttl).Err(); err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	return nil
}

// Get implements Store.
func (s *RedisStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := s.rdb.Get(ctx, s.prefix+key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("load %s: %w", key, err)
	}
	return b, true, nil
}

// MemoryStore is a Store in process memory, for sandbox and single-replica use.
type MemoryStore struct {
	mu   sync.Mutex
	now  func() time.Time
	vals map[string]memoryValue
}

type memoryValue struct {
	b       []byte
	expires time.Time
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{now: time.Now, vals: map[string]memoryValue{}}
}

// Put implements Store; it also drops expired entries, so memory stays
// bounded by what is alive.
func (s *MemoryStore) Put(_ context.Context, key string, value []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, v := range s.vals {
		if !now.Before(v.expires) {
			delete(s.vals, k)
		}
	}
	s.vals[key] = memoryValue{b: append([]byte(nil), value...), expires: now.Add(ttl)}
	return nil
}

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vals[key]
	if !ok || !s.now().Before(v.expires) {
		return nil, false, nil
	}
	return v.b, true, nil
}

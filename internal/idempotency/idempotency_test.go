package idempotency

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crm-gateway/crm-gateway/internal/redistest"
)

// store is what the tests need of both implementations (the server declares
// its own interface where it consumes them).
type store interface {
	Begin(ctx context.Context, key string, lease time.Duration) (*Response, string, error)
	Renew(ctx context.Context, key, token string, lease time.Duration) (bool, error)
	Complete(ctx context.Context, key, token string, resp *Response, ttl time.Duration) (bool, error)
	Release(ctx context.Context, key, token string) error
}

var (
	_ store = (*Memory)(nil)
	_ store = (*Redis)(nil)
)

// realRedis is the shared real Redis (redistest) with a prefix unique to the
// test, whose keys are deleted afterwards.
func realRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	rdb := redistest.Client(t)
	prefix := "idemtest:" + newToken() + ":"
	redistest.DeleteKeys(t, rdb, prefix+"*")
	return rdb, prefix
}

// forEachStore runs a behaviour test on both implementations.
func forEachStore(t *testing.T, test func(t *testing.T, s store)) {
	t.Run("memory", func(t *testing.T) { test(t, NewMemory()) })
	t.Run("redis", func(t *testing.T) {
		rdb, prefix := realRedis(t)
		test(t, NewRedis(rdb, prefix))
	})
}

func sample(body string) *Response {
	return &Response{
		Fingerprint: FingerprintOf([]byte(`{"name":"Ana"}`)),
		Status:      http.StatusCreated,
		Header:      http.Header{"Content-Type": {"application/json"}, "Ratelimit": {`"hc";r=9;t=1`}},
		Body:        []byte(body),
	}
}

func begin(t *testing.T, s store, key string, lease time.Duration) string {
	t.Helper()
	resp, token, err := s.Begin(context.Background(), key, lease)
	if err != nil || resp != nil || token == "" {
		t.Fatalf("Begin(%s) = %v, %q, %v; want the lease", key, resp, token, err)
	}
	return token
}

func wantInFlight(t *testing.T, s store, key string) {
	t.Helper()
	resp, token, err := s.Begin(context.Background(), key, time.Minute)
	if !errors.Is(err, ErrInFlight) || resp != nil || token != "" {
		t.Fatalf("Begin(%s) = %v, %q, %v; want ErrInFlight", key, resp, token, err)
	}
}

func wantStored(t *testing.T, s store, key string, want *Response) {
	t.Helper()
	resp, token, err := s.Begin(context.Background(), key, time.Minute)
	if err != nil || token != "" || resp == nil {
		t.Fatalf("Begin(%s) = %v, %q, %v; want the stored response", key, resp, token, err)
	}
	if resp.Fingerprint != want.Fingerprint || resp.Status != want.Status || !reflect.DeepEqual(resp.Header, want.Header) ||
		!bytes.Equal(resp.Body, want.Body) {
		t.Fatalf("stored %+v, want %+v", resp, want)
	}
}

func TestBehaviour(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(t *testing.T, s store)
	}{
		{"first Begin takes the lease, a repeat is in flight", func(t *testing.T, s store) {
			begin(t, s, "k", time.Minute)
			wantInFlight(t, s, "k")
			wantInFlight(t, s, "k")
		}},
		{"Complete stores the response, Begin returns it until the TTL", func(t *testing.T, s store) {
			tok := begin(t, s, "k", time.Minute)
			want := sample(`{"id":"1"}`)
			if ok, err := s.Complete(ctx, "k", tok, want, 300*time.Millisecond); !ok || err != nil {
				t.Fatalf("Complete = %v, %v", ok, err)
			}
			wantStored(t, s, "k", want)
			wantStored(t, s, "k", want)
			time.Sleep(400 * time.Millisecond)
			begin(t, s, "k", time.Minute) // expired: a new request
		}},
		{"Release frees the key", func(t *testing.T, s store) {
			tok := begin(t, s, "k", time.Minute)
			if err := s.Release(ctx, "k", tok); err != nil {
				t.Fatal(err)
			}
			begin(t, s, "k", time.Minute)
		}},
		{"a wrong token changes nothing", func(t *testing.T, s store) {
			tok := begin(t, s, "k", time.Minute)
			if err := s.Release(ctx, "k", "not-"+tok); err != nil {
				t.Fatal(err)
			}
			wantInFlight(t, s, "k")
			if ok, err := s.Complete(ctx, "k", "not-"+tok, sample("x"), time.Minute); ok || err != nil {
				t.Fatalf("Complete with a wrong token = %v, %v", ok, err)
			}
			if ok, err := s.Renew(ctx, "k", "not-"+tok, time.Minute); ok || err != nil {
				t.Fatalf("Renew with a wrong token = %v, %v", ok, err)
			}
			wantInFlight(t, s, "k")
		}},
		{"a stored response is not released nor overwritten by its old lease", func(t *testing.T, s store) {
			tok := begin(t, s, "k", time.Minute)
			want := sample("first")
			if ok, err := s.Complete(ctx, "k", tok, want, time.Minute); !ok || err != nil {
				t.Fatalf("Complete = %v, %v", ok, err)
			}
			if err := s.Release(ctx, "k", tok); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.Complete(ctx, "k", tok, sample("second"), time.Minute); ok || err != nil {
				t.Fatalf("second Complete = %v, %v", ok, err)
			}
			wantStored(t, s, "k", want)
		}},
		{"an expired lease can be taken over; the old owner then cannot store", func(t *testing.T, s store) {
			old := begin(t, s, "k", 100*time.Millisecond)
			time.Sleep(150 * time.Millisecond)
			cur := begin(t, s, "k", time.Minute)
			if ok, err := s.Renew(ctx, "k", old, time.Minute); ok || err != nil {
				t.Fatalf("Renew of a lost lease = %v, %v", ok, err)
			}
			if ok, err := s.Complete(ctx, "k", old, sample("stale"), time.Minute); ok || err != nil {
				t.Fatalf("Complete of a lost lease = %v, %v", ok, err)
			}
			want := sample("current")
			if ok, err := s.Complete(ctx, "k", cur, want, time.Minute); !ok || err != nil {
				t.Fatalf("Complete = %v, %v", ok, err)
			}
			wantStored(t, s, "k", want)
		}},
		{"Renew keeps the lease past its first expiry", func(t *testing.T, s store) {
			tok := begin(t, s, "k", 150*time.Millisecond)
			for range 3 {
				time.Sleep(100 * time.Millisecond)
				if ok, err := s.Renew(ctx, "k", tok, 150*time.Millisecond); !ok || err != nil {
					t.Fatalf("Renew = %v, %v", ok, err)
				}
			}
			wantInFlight(t, s, "k") // 300 ms after Begin, twice the first lease
		}},
		{"keys are independent", func(t *testing.T, s store) {
			a := begin(t, s, "a", time.Minute)
			begin(t, s, "b", time.Minute)
			if ok, err := s.Complete(ctx, "a", a, sample("a"), time.Minute); !ok || err != nil {
				t.Fatalf("Complete = %v, %v", ok, err)
			}
			wantStored(t, s, "a", sample("a"))
			wantInFlight(t, s, "b")
		}},
		{"empty and binary bodies, no headers, a 1 MiB body round-trip", func(t *testing.T, s store) {
			big := make([]byte, 1<<20)
			_, _ = rand.Read(big)
			for i, want := range []*Response{
				{Status: 200, Header: http.Header{}, Body: []byte{}},
				{Status: 404, Header: http.Header{"Content-Type": {"application/problem+json"}}, Body: []byte("\x00\xff\"{}")},
				{Fingerprint: FingerprintOf(big), Status: 202, Header: http.Header{"Location": {"/v1/jobs/1"}}, Body: big},
			} {
				key := fmt.Sprint("k", i)
				tok := begin(t, s, key, time.Minute)
				if ok, err := s.Complete(ctx, key, tok, want, time.Minute); !ok || err != nil {
					t.Fatalf("Complete = %v, %v", ok, err)
				}
				wantStored(t, s, key, want)
			}
		}},
		{"concurrent Begins: exactly one takes the lease", func(t *testing.T, s store) {
			const n = 32
			var wg sync.WaitGroup
			var mu sync.Mutex
			leases, inFlight := 0, 0
			for range n {
				wg.Go(func() {
					_, tok, err := s.Begin(ctx, "race", time.Minute)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil && tok != "":
						leases++
					case errors.Is(err, ErrInFlight):
						inFlight++
					default:
						t.Errorf("Begin = %q, %v", tok, err)
					}
				})
			}
			wg.Wait()
			if leases != 1 || inFlight != n-1 {
				t.Fatalf("%d leases and %d in flight, want 1 and %d", leases, inFlight, n-1)
			}
		}},
		{"a status that cannot be stored is refused, the lease stays", func(t *testing.T, s store) {
			tok := begin(t, s, "k", time.Minute)
			if ok, err := s.Complete(ctx, "k", tok, &Response{Status: 0}, time.Minute); ok || err == nil {
				t.Fatalf("Complete with status 0 = %v, %v", ok, err)
			}
			wantInFlight(t, s, "k")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { forEachStore(t, tc.run) })
	}
}

func TestRedisKeysUnderPrefixWithTTL(t *testing.T) {
	rdb, prefix := realRedis(t)
	s := NewRedis(rdb, prefix)
	ctx := context.Background()
	tok := begin(t, s, "scope:k", 30*time.Second)
	if ttl := rdb.PTTL(ctx, prefix+"scope:k").Val(); ttl <= 25*time.Second || ttl > 30*time.Second {
		t.Fatalf("lease PTTL %v, want ≈30s", ttl)
	}
	if ok, err := s.Complete(ctx, "scope:k", tok, sample("x"), 24*time.Hour); !ok || err != nil {
		t.Fatalf("Complete = %v, %v", ok, err)
	}
	if ttl := rdb.PTTL(ctx, prefix+"scope:k").Val(); ttl <= 23*time.Hour || ttl > 24*time.Hour {
		t.Fatalf("response PTTL %v, want ≈24h", ttl)
	}
	if n := rdb.Exists(ctx, "scope:k").Val(); n != 0 {
		t.Fatal("a key was written outside the prefix")
	}
}

func TestRedisCorruptEntryIsAnError(t *testing.T) {
	rdb, prefix := realRedis(t)
	s := NewRedis(rdb, prefix)
	rdb.Set(context.Background(), prefix+"k", "garbage", time.Minute)
	if _, _, err := s.Begin(context.Background(), "k", time.Minute); !errors.Is(err, errCorrupt) {
		t.Fatalf("Begin on a corrupt entry: %v, want errCorrupt", err)
	}
}

func TestRedisDownIsAnError(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	if _, _, err := NewRedis(rdb, "x:").Begin(context.Background(), "k", time.Minute); err == nil || errors.Is(err, ErrInFlight) {
		t.Fatalf("Begin with Redis down: %v, want a connection error", err)
	}
}

func TestDecodeRejectsTruncatedEntries(t *testing.T) {
	v, err := encodeResponse(sample(`{"id":"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	for n := len(responseTag); n < len(v)-len(`{"id":"1"}`); n++ {
		if _, _, err := decode(v[:n]); err == nil {
			t.Fatalf("decode of %d of %d bytes succeeded", n, len(v))
		}
	}
	if _, resp, err := decode(v); err != nil || string(resp.Body) != `{"id":"1"}` {
		t.Fatalf("decode = %v, %v", resp, err)
	}
}

func TestMemorySweepsExpiredEntries(t *testing.T) {
	m := NewMemory()
	now := time.Now()
	m.now = func() time.Time { return now }
	ctx := context.Background()
	for i := range 100 {
		if _, _, err := m.Begin(ctx, fmt.Sprint(i), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(2 * sweepEvery)
	if _, _, err := m.Begin(ctx, "new", time.Second); err != nil {
		t.Fatal(err)
	}
	if n := m.Len(); n != 1 {
		t.Fatalf("%d entries after the sweep, want 1", n)
	}
}

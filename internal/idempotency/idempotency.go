// Package idempotency stores the responses of requests made with an
// Idempotency-Key (IETF draft-ietf-httpapi-idempotency-key-header), so that
// a retried request is answered with the first response instead of being
// executed again.
//
// A key goes through two states in one store entry:
//
//   - in flight: Begin took a lease (a lock with an expiry) for the first
//     request; a repeat gets ErrInFlight. The owner renews the lease while the
//     request runs and either Completes it (the entry becomes the stored
//     response) or Releases it (the entry disappears and the key may be used
//     again, e.g. after a 5xx the client should be able to retry).
//   - stored: the response, with the fingerprint of the request that made
//     it, kept for the TTL given to Complete; Begin returns it.
//
// Every operation that changes an in-flight entry names the lease's token,
// so an owner whose lease expired (and was taken over) cannot overwrite or
// delete what the new owner holds.
//
// Two implementations behave the same: Redis (shared by every replica) and
// Memory (one process, for the sandbox and tests).
package idempotency

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// ErrInFlight means a request with the same key holds the lease: it has not
// finished yet.
var ErrInFlight = errors.New("idempotency: a request with this key is still in flight")

// Fingerprint identifies a request's content: the SHA-256 of its body.
type Fingerprint [sha256.Size]byte

// FingerprintOf is the fingerprint of a whole body.
func FingerprintOf(body []byte) Fingerprint { return sha256.Sum256(body) }

// Response is a stored response and the fingerprint of the request that
// produced it. A Response returned by a store is shared: do not modify it.
type Response struct {
	Fingerprint Fingerprint
	Status      int
	Header      http.Header // only the headers worth replaying
	Body        []byte
}

// newToken makes a lease token no other lease has.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Encoding of an entry's value. A lease is lockTag + token; a response is
// responseTag + fingerprint + status (2 bytes, big endian) + length of the
// header JSON (uvarint) + header JSON + body. The tags differ in their first
// byte, so one byte tells them apart.
const (
	lockTag     = "L1:"
	responseTag = "R1:"
)

func encodeLock(token string) string { return lockTag + token }

func encodeResponse(r *Response) ([]byte, error) {
	hdr, err := json.Marshal(r.Header)
	if err != nil {
		return nil, err
	}
	if r.Status < 100 || r.Status > 999 {
		return nil, fmt.Errorf("idempotency: status %d cannot be stored", r.Status)
	}
	buf := make([]byte, 0, len(responseTag)+len(r.Fingerprint)+2+binary.MaxVarintLen64+len(hdr)+len(r.Body))
	buf = append(buf, responseTag...)
	buf = append(buf, r.Fingerprint[:]...)
	buf = binary.BigEndian.AppendUint16(buf, uint16(r.Status))
	buf = binary.AppendUvarint(buf, uint64(len(hdr)))
	buf = append(buf, hdr...)
	return append(buf, r.Body...), nil
}

var errCorrupt = errors.New("idempotency: stored entry is corrupt")

// decode reads an entry: a lease (its token) or a response.
func decode(v []byte) (token string, resp *Response, err error) {
	switch {
	case bytes.HasPrefix(v, []byte(lockTag)):
		return string(v[len(lockTag):]), nil, nil
	case !bytes.HasPrefix(v, []byte(responseTag)):
		return "", nil, errCorrupt
	}
	v = v[len(responseTag):]
	r := &Response{}
	if len(v) < len(r.Fingerprint)+2 {
		return "", nil, errCorrupt
	}
	copy(r.Fingerprint[:], v)
	v = v[len(r.Fingerprint):]
	r.Status = int(binary.BigEndian.Uint16(v))
	v = v[2:]
	n, size := binary.Uvarint(v)
	if size <= 0 || uint64(len(v)-size) < n {
		return "", nil, errCorrupt
	}
	v = v[size:]
	if err := json.Unmarshal(v[:n], &r.Header); err != nil {
		return "", nil, errCorrupt
	}
	r.Body = v[n:]
	return "", r, nil
}

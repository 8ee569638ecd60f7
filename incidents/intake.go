package incidents

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Limits on call input.
const (
	MaxDescriptionChars = 4000
	MaxAddressChars     = 500
	MaxCallerChars      = 200
	MaxFutureSkew       = 5 * time.Minute
	maxIdempotencyKey   = 128
)

// CallInput is a call as the call floor submits it. Pointer fields tell a
// missing field from a zero value.
type CallInput struct {
	ID          *string  `json:"id,omitempty"`
	ReceivedAt  *string  `json:"received_at,omitempty"`
	Lat         *float64 `json:"lat,omitempty"`
	Lon         *float64 `json:"lon,omitempty"`
	Address     *string  `json:"address,omitempty"`
	Category    *string  `json:"category,omitempty"`
	Description *string  `json:"description,omitempty"`
	Urgent      *bool    `json:"urgent,omitempty"`
	Caller      *string  `json:"caller,omitempty"`
}

// IntakeConfig configures an Intake.
type IntakeConfig struct {
	Store    Store
	Taxonomy *Taxonomy
	Area     *Regions
	Now      func() time.Time // defaults to time.Now
	MaxBatch int              // calls committed in one transaction at most; default 256
	// OnStored, when set, is called after each committed batch with the
	// calls it created (for metrics).
	OnStored func(created int)
}

// Intake validates calls and stores them. Calls that arrive together are
// committed together in one transaction (group commit), and each Register
// returns only after its own call is committed.
type Intake struct {
	cfg     IntakeConfig
	queue   chan *pendingCall
	mu      sync.RWMutex // guards closed against sends on a closed queue
	closed  bool
	stopped chan struct{}
}

type pendingCall struct {
	call NewCall
	done chan CreateResult
}

// NewIntake starts an Intake; Close stops it.
func NewIntake(cfg IntakeConfig) *Intake {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	in := &Intake{cfg: cfg, queue: make(chan *pendingCall, 4*cfg.MaxBatch), stopped: make(chan struct{})}
	go in.commitLoop()
	return in
}

// Taxonomy returns the category taxonomy the intake checks against.
func (in *Intake) Taxonomy() *Taxonomy { return in.cfg.Taxonomy }

// Area returns the service area the intake checks against.
func (in *Intake) Area() *Regions { return in.cfg.Area }

// Register validates a call and stores it with its call.received event. It
// returns the stored call and whether this request created it (false for an
// idempotent retry of an earlier request). Errors: *Error with CodeInvalid,
// CodeOutOfArea or CodeBadRequest naming the field for bad input (nothing is
// stored); CodeConflict when the idempotency key or id belongs to a different
// request; CodeUnavailable when the intake is closed or the store fails.
func (in *Intake) Register(ctx context.Context, actor, idempotencyKey string, input CallInput) (Call, bool, error) {
	nc, err := in.Prepare(actor, idempotencyKey, input)
	if err != nil {
		return Call{}, false, err
	}
	if nc.IdempotencyKey != "" { // each actor's own: another's same key is another request
		nc.IdempotencyKey = actor + "\n" + nc.IdempotencyKey
	}
	p := &pendingCall{call: nc, done: make(chan CreateResult, 1)}
	in.mu.RLock()
	if in.closed {
		in.mu.RUnlock()
		return Call{}, false, Errorf(CodeUnavailable, "intake is shutting down")
	}
	select {
	case in.queue <- p:
		in.mu.RUnlock()
	case <-ctx.Done():
		in.mu.RUnlock()
		return Call{}, false, ctx.Err()
	}
	select {
	case r := <-p.done:
		return r.Call, r.Created, r.Err
	case <-ctx.Done():
		// The call may still be committed; a retry with the same id or
		// idempotency key returns it.
		return Call{}, false, ctx.Err()
	}
}

// Close stops taking calls, commits those already queued and returns when
// the last commit has finished or ctx is done.
func (in *Intake) Close(ctx context.Context) error {
	in.mu.Lock()
	if !in.closed {
		in.closed = true
		close(in.queue)
	}
	in.mu.Unlock()
	select {
	case <-in.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (in *Intake) commitLoop() {
	defer close(in.stopped)
	batch := make([]*pendingCall, 0, in.cfg.MaxBatch)
	for p := range in.queue {
		batch = append(batch[:0], p)
	fill:
		for len(batch) < in.cfg.MaxBatch {
			select {
			case q, ok := <-in.queue:
				if !ok {
					break fill
				}
				batch = append(batch, q)
			default:
				break fill
			}
		}
		in.commit(batch)
	}
}

// commit stores one batch. When the batch as a whole fails and holds more
// than one call, each call is retried alone so that one bad call cannot
// fail the others.
func (in *Intake) commit(batch []*pendingCall) {
	calls := make([]NewCall, len(batch))
	for i, p := range batch {
		calls[i] = p.call
	}
	results, err := in.cfg.Store.CreateCalls(context.Background(), calls)
	if err != nil && len(batch) > 1 {
		for _, p := range batch {
			in.commit([]*pendingCall{p})
		}
		return
	}
	if err != nil {
		for _, p := range batch {
			p.done <- CreateResult{Err: storeUnavailable(err)}
		}
		return
	}
	// Count before answering, so that whoever got an answer sees it counted.
	created := 0
	for _, r := range results {
		if r.Created {
			created++
		}
	}
	if in.cfg.OnStored != nil && created > 0 {
		in.cfg.OnStored(created)
	}
	for i, p := range batch {
		p.done <- results[i]
	}
}

func storeUnavailable(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &unavailableError{err}
}

// unavailableError reports a store failure as CodeUnavailable while keeping
// the cause for logs.
type unavailableError struct{ cause error }

func (e *unavailableError) Error() string { return "store unavailable: " + e.cause.Error() }
func (e *unavailableError) Unwrap() []error {
	return []error{&Error{Code: CodeUnavailable, Message: "the call could not be stored; retry with the same Idempotency-Key"}, e.cause}
}

var (
	idPattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)
	keyPattern = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)
)

// Prepare validates input and turns it into a NewCall without storing it.
// It returns the same errors as Register for bad input.
func (in *Intake) Prepare(actor, idempotencyKey string, input CallInput) (NewCall, error) {
	now := in.cfg.Now().UTC()
	var c Call
	if idempotencyKey != "" && !keyPattern.MatchString(idempotencyKey) {
		return NewCall{}, FieldError(CodeInvalid, "Idempotency-Key", "Idempotency-Key must be 1 to %d printable ASCII characters", maxIdempotencyKey)
	}
	if input.ID != nil {
		if !idPattern.MatchString(*input.ID) {
			return NewCall{}, FieldError(CodeInvalid, "id", "id must be 1 to 64 characters of letters, digits and . _ : - starting with a letter or digit")
		}
		c.ID = *input.ID
	} else {
		c.ID = NewID("c", now)
	}
	if input.Lat == nil {
		return NewCall{}, FieldError(CodeInvalid, "lat", "lat is required")
	}
	if input.Lon == nil {
		return NewCall{}, FieldError(CodeInvalid, "lon", "lon is required")
	}
	c.Lat, c.Lon = *input.Lat, *input.Lon
	if math.IsNaN(c.Lat) || c.Lat < -90 || c.Lat > 90 {
		return NewCall{}, FieldError(CodeInvalid, "lat", "lat must be between -90 and 90")
	}
	if math.IsNaN(c.Lon) || c.Lon < -180 || c.Lon > 180 {
		return NewCall{}, FieldError(CodeInvalid, "lon", "lon must be between -180 and 180")
	}
	if in.cfg.Area != nil && !in.cfg.Area.Contains(c.Lon, c.Lat) {
		return NewCall{}, FieldError(CodeOutOfArea, "location", "the point (lon %.6f, lat %.6f) is outside the service area %s", c.Lon, c.Lat, in.cfg.Area.Name)
	}
	if input.Category == nil || *input.Category == "" {
		return NewCall{}, FieldError(CodeInvalid, "category", "category is required (see GET /api/v1/categories)")
	}
	if _, ok := in.cfg.Taxonomy.Category(*input.Category); !ok {
		return NewCall{}, FieldError(CodeInvalid, "category", "unknown category %q (see GET /api/v1/categories)", *input.Category)
	}
	c.Category = *input.Category
	c.RecordedAt = now.Truncate(time.Microsecond)
	c.ReceivedAt = c.RecordedAt
	if input.ReceivedAt != nil {
		t, err := time.Parse(time.RFC3339Nano, *input.ReceivedAt)
		if err != nil {
			return NewCall{}, FieldError(CodeInvalid, "received_at", "received_at must be an RFC 3339 time such as 2026-09-14T21:05:00+08:00")
		}
		if t.After(now.Add(MaxFutureSkew)) {
			return NewCall{}, FieldError(CodeInvalid, "received_at", "received_at is %s in the future; at most %s is allowed", t.Sub(now).Round(time.Second), MaxFutureSkew)
		}
		if t.Year() < 2000 {
			return NewCall{}, FieldError(CodeInvalid, "received_at", "received_at is before the year 2000")
		}
		c.ReceivedAt = t.UTC().Truncate(time.Microsecond)
	}
	var err error
	if c.Address, err = text("address", input.Address, MaxAddressChars, false); err != nil {
		return NewCall{}, err
	}
	if c.Description, err = text("description", input.Description, MaxDescriptionChars, true); err != nil {
		return NewCall{}, err
	}
	if c.Caller, err = text("caller", input.Caller, MaxCallerChars, false); err != nil {
		return NewCall{}, err
	}
	if input.Urgent != nil {
		c.Urgent = *input.Urgent
	}
	c.Actor = actor
	return NewCall{Call: c, IdempotencyKey: idempotencyKey, RequestHash: RequestHash(input), GeneratedID: input.ID == nil, Audience: CallReceivedAudience()}, nil
}

// text checks an optional free-text field: valid UTF-8, at most max
// characters, no control characters (newlines and tabs allowed when
// multiline).
func text(field string, v *string, max int, multiline bool) (string, error) {
	if v == nil {
		return "", nil
	}
	s := strings.TrimSpace(*v)
	if !utf8.ValidString(s) {
		return "", FieldError(CodeInvalid, field, "%s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return "", FieldError(CodeInvalid, field, "%s has %d characters; at most %d are allowed", field, n, max)
	}
	for _, r := range s {
		if r < 0x20 && !(multiline && (r == '\n' || r == '\t' || r == '\r')) || r == 0x7f {
			return "", FieldError(CodeInvalid, field, "%s contains a control character", field)
		}
	}
	return s, nil
}

// RequestHash returns a hash of a call request as the client sent it (its
// fields, not their order or spacing), which tells an idempotent retry from
// a different request under the same key or id.
func RequestHash(input CallInput) string {
	b, _ := json.Marshal(input) // cannot fail: plain fields
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns a new identifier: the prefix, then a time-ordered
// 26-character string (48 bits of milliseconds, 80 random bits).
func NewID(prefix string, now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

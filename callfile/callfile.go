// Package callfile reads and writes files of calls, one call a row, as CSV
// with a header or as JSON Lines. Both forms carry the columns (or fields)
// id, received_at (RFC 3339), lat, lon, category and, optionally, urgent,
// address and description; other columns are ignored.
package callfile

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Call is one row of a call file.
type Call struct {
	ID          string    `json:"id"`
	ReceivedAt  time.Time `json:"received_at"`
	Lat         float64   `json:"lat"`
	Lon         float64   `json:"lon"`
	Category    string    `json:"category"`
	Urgent      bool      `json:"urgent"`
	Address     string    `json:"address,omitempty"`
	Description string    `json:"description,omitempty"`
	// Line is the line the call was read from; 0 for calls not read.
	Line int `json:"-"`
}

// Format is the form of a call file.
type Format int

// The call file formats.
const (
	CSV Format = iota + 1
	JSONL
)

// String returns "csv" or "jsonl".
func (f Format) String() string {
	switch f {
	case CSV:
		return "csv"
	case JSONL:
		return "jsonl"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat returns the format named "csv" or "jsonl" (or "json").
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "csv":
		return CSV, nil
	case "jsonl", "json", "ndjson":
		return JSONL, nil
	}
	return 0, fmt.Errorf("unknown call file format %q (want csv or jsonl)", s)
}

// ErrMalformed is wrapped by every RowError.
var ErrMalformed = errors.New("malformed row")

// RowError reports a row that cannot be read as a call. Reading can go on
// past it.
type RowError struct {
	Line int // 1-based line number in the file
	Err  error
}

// Error returns "line N: reason".
func (e *RowError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the reason and ErrMalformed.
func (e *RowError) Unwrap() []error { return []error{e.Err, ErrMalformed} }

// maxLine bounds a JSON line, so that a file without newlines cannot take
// all memory.
const maxLine = 1 << 20

// Reader reads calls from a CSV or JSON Lines file; it tells the two apart
// by the first non-blank byte ('{' starts JSON Lines).
type Reader struct {
	format Format
	br     *bufio.Reader
	line   int // lines consumed (JSON Lines)
	buf    []byte
	csv    *csv.Reader
	cols   map[string]int
	err    error // sticky error from setup
}

// NewReader returns a Reader for r.
func NewReader(r io.Reader) *Reader {
	br := bufio.NewReaderSize(r, 64<<10)
	rd := &Reader{br: br}
	// Skip a UTF-8 byte order mark, then look at the first non-blank byte.
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3)
	}
	rd.format = CSV
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if err != nil || len(b) < n {
			break
		}
		c := b[n-1]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			continue
		}
		if c == '{' {
			rd.format = JSONL
		}
		break
	}
	return rd
}

// Format returns the format the reader found.
func (r *Reader) Format() Format { return r.format }

// Read returns the next call. At the end of the file it returns io.EOF. A
// row that cannot be read gives a *RowError, after which Read can be called
// again; any other error ends reading.
func (r *Reader) Read() (Call, error) {
	if r.err != nil {
		return Call{}, r.err
	}
	if r.format == JSONL {
		return r.readJSON()
	}
	return r.readCSV()
}

// ReadAll reads every call. Malformed rows are passed to onRow, which stops
// reading by returning an error (ReadAll then returns it); a nil onRow
// skips them.
func (r *Reader) ReadAll(onRow func(*RowError) error) ([]Call, error) {
	var out []Call
	for {
		c, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		var re *RowError
		if errors.As(err, &re) {
			if onRow != nil {
				if err := onRow(re); err != nil {
					return out, err
				}
			}
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
}

func (r *Reader) readJSON() (Call, error) {
	for {
		line, tooLong, err := r.nextLine()
		if err != nil && err != io.EOF {
			return Call{}, fmt.Errorf("read calls: %w", err)
		}
		if err == io.EOF && len(line) == 0 && !tooLong {
			return Call{}, io.EOF
		}
		r.line++
		if tooLong {
			return Call{}, &RowError{Line: r.line, Err: fmt.Errorf("line is longer than %d bytes", maxLine)}
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		c, perr := parseJSON(line)
		if perr != nil {
			return Call{}, &RowError{Line: r.line, Err: perr}
		}
		c.Line = r.line
		return c, nil
	}
}

// nextLine returns the next line, or reports it too long to keep.
func (r *Reader) nextLine() (line []byte, tooLong bool, err error) {
	r.buf = r.buf[:0]
	for {
		frag, err := r.br.ReadSlice('\n')
		if len(r.buf)+len(frag) <= maxLine {
			r.buf = append(r.buf, frag...)
		} else {
			tooLong = true
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return r.buf, tooLong, err
	}
}

// jsonCall is a JSON row as written; numbers may also come as strings.
type jsonCall struct {
	ID          json.RawMessage `json:"id"`
	ReceivedAt  *string         `json:"received_at"`
	Lat         json.RawMessage `json:"lat"`
	Lon         json.RawMessage `json:"lon"`
	Category    *string         `json:"category"`
	Urgent      json.RawMessage `json:"urgent"`
	Address     string          `json:"address"`
	Description string          `json:"description"`
}

func parseJSON(line []byte) (Call, error) {
	var j jsonCall
	if err := json.Unmarshal(line, &j); err != nil {
		return Call{}, fmt.Errorf("not a JSON object: %w", err)
	}
	var f fields
	var err error
	if f.id, err = jsonText(j.ID, "id"); err != nil {
		return Call{}, err
	}
	if j.ReceivedAt != nil {
		f.receivedAt = *j.ReceivedAt
	}
	if f.lat, err = jsonText(j.Lat, "lat"); err != nil {
		return Call{}, err
	}
	if f.lon, err = jsonText(j.Lon, "lon"); err != nil {
		return Call{}, err
	}
	if j.Category != nil {
		f.category = *j.Category
	}
	if f.urgent, err = jsonText(j.Urgent, "urgent"); err != nil {
		return Call{}, err
	}
	f.address, f.description = j.Address, j.Description
	return f.call()
}

// jsonText returns a JSON string's text or a number's literal; null and
// absent give "".
func jsonText(raw json.RawMessage, name string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		return s, nil
	case 't', 'f':
		return string(raw), nil
	case '{', '[':
		return "", fmt.Errorf("%s is not a string or number", name)
	}
	return string(raw), nil
}

// fields are a row's values as text, before checking.
type fields struct {
	id, receivedAt, lat, lon, category, urgent, address, description string
}

// call checks the fields and returns the call.
func (f fields) call() (Call, error) {
	c := Call{
		ID:          strings.TrimSpace(f.id),
		Category:    strings.TrimSpace(f.category),
		Address:     f.address,
		Description: f.description,
	}
	if c.ID == "" {
		return Call{}, errors.New("id is missing")
	}
	for _, v := range []string{c.ID, c.Category, c.Address, c.Description} {
		if !utf8.ValidString(v) {
			return Call{}, fmt.Errorf("text %q is not valid UTF-8", v)
		}
	}
	ts := strings.TrimSpace(f.receivedAt)
	if ts == "" {
		return Call{}, errors.New("received_at is missing")
	}
	t, err := parseTime(ts)
	if err != nil {
		return Call{}, err
	}
	c.ReceivedAt = t
	if c.Lat, err = coord(f.lat, "lat", 90); err != nil {
		return Call{}, err
	}
	if c.Lon, err = coord(f.lon, "lon", 180); err != nil {
		return Call{}, err
	}
	if c.Category == "" {
		return Call{}, errors.New("category is missing")
	}
	switch strings.ToLower(strings.TrimSpace(f.urgent)) {
	case "", "false", "0", "no", "n":
	case "true", "1", "yes", "y":
		c.Urgent = true
	default:
		return Call{}, fmt.Errorf("urgent %q is not true or false", f.urgent)
	}
	return c, nil
}

// parseTime reads a received_at. Go's RFC 3339 parser also takes a one-digit
// hour ("T0:00:00"), which RFC 3339 does not; and the zero time, which Go
// code reads as "no time", is not a time a call was received.
func parseTime(ts string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || len(ts) < len("2006-01-02T15:04:05Z") || ts[13] != ':' || ts[16] != ':' {
		return time.Time{}, fmt.Errorf("received_at %q is not an RFC 3339 time", ts)
	}
	if t.IsZero() {
		return time.Time{}, fmt.Errorf("received_at %q is the zero time", ts)
	}
	return t, nil
}

func coord(s, name string, limit float64) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("%s is missing", name)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || v < -limit || v > limit {
		return 0, fmt.Errorf("%s %q is not a number in [-%g, %g]", name, s, limit, limit)
	}
	return v, nil
}

// columns are the CSV header names the reader knows.
var columns = []string{"id", "received_at", "lat", "lon", "category", "urgent", "address", "description"}

func (r *Reader) readCSV() (Call, error) {
	if r.csv == nil {
		r.csv = csv.NewReader(r.br)
		r.csv.FieldsPerRecord = -1
		r.csv.ReuseRecord = true
		head, err := r.csv.Read()
		if err == io.EOF {
			r.err = io.EOF
			return Call{}, io.EOF
		}
		if err != nil {
			r.err = fmt.Errorf("read CSV header: %w", err)
			return Call{}, r.err
		}
		r.cols = make(map[string]int)
		for i, h := range head {
			h = strings.ToLower(strings.TrimSpace(h))
			if _, dup := r.cols[h]; !dup {
				r.cols[h] = i
			}
		}
		for _, need := range columns[:5] {
			if _, ok := r.cols[need]; !ok {
				r.err = fmt.Errorf("CSV header %q lacks the column %q (want id,received_at,lat,lon,category[,urgent])", strings.Join(head, ","), need)
				return Call{}, r.err
			}
		}
	}
	rec, err := r.csv.Read()
	if err == io.EOF {
		return Call{}, io.EOF
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return Call{}, &RowError{Line: pe.Line, Err: pe.Err}
		}
		return Call{}, fmt.Errorf("read calls: %w", err)
	}
	line, _ := r.csv.FieldPos(0)
	get := func(name string) string {
		if i, ok := r.cols[name]; ok && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	for _, need := range columns[:5] {
		if r.cols[need] >= len(rec) {
			return Call{}, &RowError{Line: line, Err: fmt.Errorf("row has %d fields, too few for %s", len(rec), need)}
		}
	}
	c, err := fields{
		id: get("id"), receivedAt: get("received_at"), lat: get("lat"), lon: get("lon"),
		category: get("category"), urgent: get("urgent"), address: get("address"), description: get("description"),
	}.call()
	if err != nil {
		return Call{}, &RowError{Line: line, Err: err}
	}
	c.Line = line
	return c, nil
}

// Writer writes calls as CSV (with a header) or JSON Lines.
type Writer struct {
	format Format
	w      *bufio.Writer
	csv    *csv.Writer
	header bool
	rec    []string
}

// NewWriter returns a Writer of the format to w. Call Flush when done.
func NewWriter(w io.Writer, f Format) *Writer {
	bw := bufio.NewWriter(w)
	wr := &Writer{format: f, w: bw}
	if f == CSV {
		wr.csv = csv.NewWriter(bw)
	}
	return wr
}

// Write writes one call.
func (w *Writer) Write(c Call) error {
	if w.format == JSONL {
		b, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("encode call %s: %w", c.ID, err)
		}
		b = append(b, '\n')
		if _, err := w.w.Write(b); err != nil {
			return fmt.Errorf("write call %s: %w", c.ID, err)
		}
		return nil
	}
	if !w.header {
		w.header = true
		if err := w.csv.Write(columns); err != nil {
			return fmt.Errorf("write header: %w", err)
		}
	}
	w.rec = append(w.rec[:0],
		c.ID, c.ReceivedAt.Format(time.RFC3339Nano),
		strconv.FormatFloat(c.Lat, 'f', -1, 64), strconv.FormatFloat(c.Lon, 'f', -1, 64),
		c.Category, strconv.FormatBool(c.Urgent), c.Address, c.Description)
	if err := w.csv.Write(w.rec); err != nil {
		return fmt.Errorf("write call %s: %w", c.ID, err)
	}
	return nil
}

// Flush writes out what is buffered and reports any earlier write error.
func (w *Writer) Flush() error {
	if w.csv != nil {
		if !w.header {
			w.header = true
			if err := w.csv.Write(columns); err != nil {
				return fmt.Errorf("write header: %w", err)
			}
		}
		w.csv.Flush()
		if err := w.csv.Error(); err != nil {
			return fmt.Errorf("write calls: %w", err)
		}
	}
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("write calls: %w", err)
	}
	return nil
}

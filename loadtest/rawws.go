package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// rawWS is a minimal WebSocket client for the load test: text messages in,
// pongs and close replies out. It spends far less CPU per message than a
// general library, leaving the machine to the server being measured. Its
// bytes come either from its connection (read) or, on Linux, from a shared
// epoll loop (wsPollers) that owns the socket once it is handed over.
type rawWS struct {
	nc   net.Conn
	br   *bufio.Reader // the connection as dialled; may hold the first frames
	fd   int           // the socket, once an epoll loop owns it; else -1
	pend []byte        // received bytes not yet parsed into frames
	msg  []byte        // a fragmented message being gathered
}

// closeFrameError is the server's close frame.
type closeFrameError struct {
	code   int
	reason string
}

func (e *closeFrameError) Error() string {
	return fmt.Sprintf("closed by the server: %d %s", e.code, e.reason)
}

// dialRawWS opens a WebSocket to u (ws://host:port/path?query) with a
// bearer token. It returns the server's refusal (status and body) as an
// error.
func dialRawWS(ctx context.Context, u, token string) (*rawWS, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, err
	}
	nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", pu.Host)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	req := "GET " + pu.RequestURI() + " HTTP/1.1\r\nHost: " + pu.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + k +
		"\r\nAuthorization: Bearer " + token + "\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 4096)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 300))
		nc.Close()
		return nil, fmt.Errorf("%d %s", res.StatusCode, bytes.TrimSpace(b))
	}
	_ = nc.SetDeadline(time.Time{})
	return &rawWS{nc: nc, br: br, fd: -1}, nil
}

// read receives from the connection until it fails or the server closes
// it, passing each text message to deliver.
func (w *rawWS) read(deliver func([]byte)) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := w.br.Read(buf)
		if n > 0 {
			if ferr := w.feed(buf[:n], deliver); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			return err
		}
	}
}

// feed takes received bytes and passes each complete text message to
// deliver (the message is valid during the call), answering pings on the
// way. It returns *closeFrameError when the server closes.
func (w *rawWS) feed(data []byte, deliver func([]byte)) error {
	b := data
	if len(w.pend) > 0 {
		w.pend = append(w.pend, data...)
		b = w.pend
	}
	for {
		op, fin, payload, size, err := parseFrame(b)
		if err != nil {
			return err
		}
		if size == 0 {
			break
		}
		b = b[size:]
		switch op {
		case 0x9: // ping: answer with the same payload
			if err := w.writeFrame(0xA, payload); err != nil {
				return err
			}
		case 0xA: // pong
		case 0x8: // close: answer and report the code
			ce := &closeFrameError{code: 1005}
			if len(payload) >= 2 {
				ce.code, ce.reason = int(binary.BigEndian.Uint16(payload)), string(payload[2:])
			}
			_ = w.writeFrame(0x8, payload[:min(len(payload), 2)])
			return ce
		default:
			switch {
			case fin && len(w.msg) == 0:
				deliver(payload)
			case fin:
				deliver(append(w.msg, payload...))
				w.msg = w.msg[:0]
			default:
				w.msg = append(w.msg, payload...)
			}
		}
	}
	// Keep what is left of an incomplete frame.
	w.pend = append(w.pend[:0], b...)
	return nil
}

// parseFrame reads the server frame at the start of b (servers do not
// mask). It returns size 0 when b does not hold the whole frame yet.
func parseFrame(b []byte) (op byte, fin bool, payload []byte, size int, err error) {
	if len(b) < 2 {
		return 0, false, nil, 0, nil
	}
	fin, op = b[0]&0x80 != 0, b[0]&0x0f
	n, h := uint64(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, false, nil, 0, nil
		}
		n, h = uint64(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		if len(b) < 10 {
			return 0, false, nil, 0, nil
		}
		n, h = binary.BigEndian.Uint64(b[2:10]), 10
	}
	if n > 16<<20 {
		return 0, false, nil, 0, fmt.Errorf("frame of %d bytes", n)
	}
	if uint64(len(b)-h) < n {
		return 0, false, nil, 0, nil
	}
	return op, fin, b[h : h+int(n)], h + int(n), nil
}

// writeFrame writes one masked frame (clients must mask).
func (w *rawWS) writeFrame(op byte, p []byte) error {
	if len(p) > 125 {
		return errors.New("control payload too long")
	}
	f := make([]byte, 0, 6+len(p))
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	f = append(f, 0x80|op, 0x80|byte(len(p)))
	f = append(f, mask[:]...)
	for i, b := range p {
		f = append(f, b^mask[i%4])
	}
	if w.fd >= 0 {
		return writeSocket(w.fd, f)
	}
	_ = w.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := w.nc.Write(f)
	return err
}

// close closes the connection unless an epoll loop owns the socket (the
// loop closes it).
func (w *rawWS) close() {
	if w.fd < 0 {
		w.nc.Close()
	}
}

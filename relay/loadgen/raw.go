package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// appendWire appends the request exactly as it goes on the wire. Prepare
// builds every request this way once, so the measured loop spends no CPU
// formatting requests: the tool must leave the machine's cores to the node
// it measures.
func (r *Request) appendWire(b []byte, host string) []byte {
	b = fmt.Appendf(b, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: palisade-bench\r\nContent-Length: %d\r\n", r.Path, host, len(r.Body))
	for _, h := range r.Headers {
		b = append(b, h[0]...)
		b = append(b, ": "...)
		b = append(b, h[1]...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, r.Body...)
}

// wireSize is an upper bound of len(appendWire(nil, host)).
func (r *Request) wireSize(host string) int {
	n := 96 + len(r.Path) + len(host) + len(r.Body)
	for _, h := range r.Headers {
		n += len(h[0]) + len(h[1]) + 4
	}
	return n
}

// rawConn is one keep-alive HTTP/1.1 connection sending one request at a
// time (no pipelining: peers do not pipeline, and neither does the tool).
type rawConn struct {
	addr    string
	timeout time.Duration
	c       net.Conn
	br      *bufio.Reader
	// renew is when the connection's deadline is next pushed out. Setting
	// it on every request costs a timer update each; renewing it once half
	// the timeout has passed still bounds every request by timeout/2 to
	// timeout.
	renew time.Time
}

// dial opens the connection if it is not open.
func (rc *rawConn) dial() error {
	if rc.c != nil {
		return nil
	}
	c, err := net.DialTimeout("tcp", rc.addr, rc.timeout)
	if err != nil {
		return err
	}
	rc.c, rc.br = c, bufio.NewReaderSize(c, 4096)
	rc.renew = time.Time{}
	return nil
}

// do sends one request and reads its answer.
func (rc *rawConn) do(req []byte) (int, error) {
	if err := rc.dial(); err != nil {
		return 0, err
	}
	if now := time.Now(); !now.Before(rc.renew) {
		rc.c.SetDeadline(now.Add(rc.timeout))
		rc.renew = now.Add(rc.timeout / 2)
	}
	if _, err := rc.c.Write(req); err != nil {
		rc.close()
		return 0, err
	}
	status, err := rc.readResponse()
	if err != nil {
		rc.close()
	}
	return status, err
}

func (rc *rawConn) close() {
	if rc.c != nil {
		rc.c.Close()
		rc.c = nil
	}
}

var errBadResponse = errors.New("loadgen: malformed HTTP response")

// readResponse reads one response: status line, headers, and a body of
// Content-Length bytes. It returns the status code.
func (rc *rawConn) readResponse() (int, error) {
	line, err := rc.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, errBadResponse
	}
	status := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, errBadResponse
		}
		status = status*10 + int(c-'0')
	}
	length, closeAfter, chunked := 0, false, false
	for {
		h, err := rc.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, errBadResponse
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, errBadResponse
			}
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			closeAfter = true
		case bytes.EqualFold(name, []byte("Transfer-Encoding")) && bytes.EqualFold(value, []byte("chunked")):
			chunked = true
		}
	}
	if chunked {
		if err := rc.discardChunked(); err != nil {
			return 0, err
		}
	} else if _, err := rc.br.Discard(length); err != nil {
		return 0, err
	}
	if closeAfter {
		rc.close()
	}
	return status, nil
}

// discardChunked skips a chunked body and its trailers.
func (rc *rawConn) discardChunked() error {
	for {
		line, err := rc.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return errBadResponse
		}
		if n == 0 {
			for { // trailers, then the blank line
				t, err := rc.br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := rc.br.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}

package app

import (
	"io"
	"net"
	"sync"
	"time"
)

// A refused request's body is left unread, and closing a socket with unread
// data makes the kernel send a reset, which can wipe out the answer before
// the client reads it. So connections close the way nginx's lingering close
// does: stop writing (the client sees the answer and then end-of-stream),
// read and discard what the client still sends for a little while, then
// close.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 8 << 20 // past this the client is sending far too much to be worth waiting for
)

// lingerListener hands out connections that close lingeringly.
type lingerListener struct{ net.Listener }

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		return &lingerConn{TCPConn: tc}, nil
	}
	return c, nil
}

type lingerConn struct {
	*net.TCPConn
	once sync.Once
}

func (c *lingerConn) Close() error {
	c.once.Do(func() {
		if err := c.CloseWrite(); err != nil {
			c.TCPConn.Close()
			return
		}
		go func() {
			defer c.TCPConn.Close()
			_ = c.SetReadDeadline(time.Now().Add(lingerTime))
			_, _ = io.Copy(io.Discard, io.LimitReader(c.TCPConn, lingerBytes))
		}()
	})
	return nil
}

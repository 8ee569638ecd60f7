//go:build !linux

package loadtest

import (
	"context"
	"errors"
	"sync"
)

// wsPollers is nil where there is no epoll: each client reads its own
// connection.
type wsPollers struct{}

func startWSPollers(context.Context, *sync.WaitGroup) (*wsPollers, error) { return nil, nil }

func (*wsPollers) read(context.Context, *loadClient, *rawWS) error {
	return errors.New("no epoll loops on this system")
}

func writeSocket(int, []byte) error { return errors.New("no raw sockets on this system") }

package mail

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// funcSender adapts a function to Sender.
type funcSender func(ctx context.Context, m Message) error

func (f funcSender) Send(ctx context.Context, m Message) error { return f(ctx, m) }

func TestSendAsync_UsesItsOwnBoundedContext(t *testing.T) {
	a := &asyncSender{slots: make(chan struct{}, 1), timeout: time.Minute}
	type call struct {
		deadline time.Time
		ok       bool
		msg      Message
	}
	got := make(chan call, 1)
	m := funcSender(func(ctx context.Context, msg Message) error {
		d, ok := ctx.Deadline()
		got <- call{d, ok, msg}
		return nil
	})
	start := time.Now()
	a.send(m, testMessage(), zap.NewNop())
	select {
	case c := <-got:
		if !c.ok || c.deadline.Before(start.Add(time.Minute)) || c.deadline.After(time.Now().Add(time.Minute)) {
			t.Errorf("deadline %v (set: %v), want about a minute from now", c.deadline, c.ok)
		}
		if c.msg.Token != testToken {
			t.Errorf("message not passed through: %+v", c.msg)
		}
	case <-time.After(time.Second):
		t.Fatal("sender not called")
	}

	// The package-level helper works the same way with the shared bound.
	done := make(chan struct{})
	SendAsync(funcSender(func(ctx context.Context, _ Message) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("no deadline")
		}
		close(done)
		return nil
	}), testMessage(), zap.NewNop())
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("sendAsync did not send")
	}
}

func TestSendAsync_DropsWhenSaturated(t *testing.T) {
	a := &asyncSender{slots: make(chan struct{}, 2), timeout: time.Minute}
	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(core)
	var calls atomic.Int32
	entered := make(chan struct{}, 3)
	release := make(chan struct{})
	blocking := funcSender(func(ctx context.Context, _ Message) error {
		calls.Add(1)
		entered <- struct{}{}
		<-release
		return nil
	})
	for range 3 {
		a.send(blocking, testMessage(), logger)
	}
	<-entered
	<-entered
	dropped := logs.FilterMessage("email dropped: too many deliveries in flight").All()
	if len(dropped) != 1 || dropped[0].Level != zapcore.ErrorLevel {
		t.Fatalf("want one dropped entry, got %v", logs.All())
	}
	if strings.Contains(fmt.Sprint(dropped[0].ContextMap()), testToken) {
		t.Error("token in the drop log")
	}

	close(release)
	// Slots come back once sends finish.
	deadline := time.Now().Add(time.Second)
	for len(a.slots) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	a.send(funcSender(func(context.Context, Message) error { close(done); return nil }), testMessage(), logger)
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("slot not released after sends finished")
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d blocking sends ran, want 2", n)
	}
}

func TestSendAsync_LogsOnlyWhatTheSenderDidNot(t *testing.T) {
	a := &asyncSender{slots: make(chan struct{}, 4), timeout: time.Minute}
	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(core)

	a.send(nil, testMessage(), logger)
	if n := logs.FilterMessage("email not sent: no delivery configured").Len(); n != 1 {
		t.Errorf("nil sender: %d entries, want 1", n)
	}

	wait := func(m funcSender) {
		done := make(chan struct{})
		a.send(funcSender(func(ctx context.Context, msg Message) error {
			defer close(done)
			return m(ctx, msg)
		}), testMessage(), logger)
		<-done
		for len(a.slots) > 0 {
			time.Sleep(time.Millisecond)
		}
	}
	wait(func(context.Context, Message) error { return fmt.Errorf("%w: already logged", ErrDelivery) })
	wait(func(context.Context, Message) error { return errors.New("unexpected") })
	wait(func(context.Context, Message) error { panic("bug") })

	if n := logs.FilterMessage("email delivery failed").Len(); n != 1 {
		t.Errorf("%d failure entries, want 1 (the error not wrapping ErrDelivery)", n)
	}
	if n := logs.FilterMessage("email delivery panicked").Len(); n != 1 {
		t.Errorf("%d panic entries, want 1", n)
	}
}

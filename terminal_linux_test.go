package main

// terminal_linux_test.go: set-password on a terminal (a pseudo-terminal
// made here) reads the password without echo, twice, as passwd does.

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPseudoTerminal returns the two ends of a new pseudo-terminal: the
// terminal a program reads from, and the side that types into it.
func openPseudoTerminal(t *testing.T) (terminal, keyboard *os.File) {
	t.Helper()
	keyboard, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var unlock int32
	var number uint32
	if err := ioctl(keyboard, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		t.Fatal(err)
	}
	if err := ioctl(keyboard, syscall.TIOCGPTN, unsafe.Pointer(&number)); err != nil {
		t.Fatal(err)
	}
	terminal, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", number), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { terminal.Close(); keyboard.Close() })
	return terminal, keyboard
}

func ioctl(f *os.File, request uintptr, arg unsafe.Pointer) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), request, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}

// echoing reports whether the terminal echoes what is typed.
func echoing(t *testing.T, terminal *os.File) bool {
	t.Helper()
	var state syscall.Termios
	if err := ioctl(terminal, syscall.TCGETS, unsafe.Pointer(&state)); err != nil {
		t.Fatal(err)
	}
	return state.Lflag&syscall.ECHO != 0
}

func TestSetPasswordOnATerminal(t *testing.T) {
	ts := newTestServer(t)
	ts.userWithToken("alice", "support")
	cfgPath := mtWriteFile(t, "fast.json", `{"auth": {"ARGON2": {"memory_kib": 1024, "iterations": 1, "parallelism": 1}}}`)

	// setPassword runs set-password on a new terminal and types each line
	// when the program has asked for it with echo off; it returns what the
	// terminal showed, stdout and the error.
	setPassword := func(t *testing.T, lines ...string) (shown, stdout string, err error) {
		terminal, keyboard := openPseudoTerminal(t)
		if !echoing(t, terminal) {
			t.Fatal("a new terminal does not echo: the test would prove nothing")
		}
		prompts := &lockedBuffer{buf: &bytes.Buffer{}}
		var out bytes.Buffer
		finished := make(chan error, 1)
		go func() {
			finished <- run([]string{"set-password", "-config", cfgPath, "-db", ts.cfg.databasePath(), "alice"}, terminal, &out, prompts)
		}()
		for i, line := range lines {
			wantPrompts := i + 1
			deadline := time.Now().Add(10 * time.Second)
			for strings.Count(prompts.String(), "password: ") < wantPrompts || echoing(t, terminal) {
				if time.Now().After(deadline) {
					t.Fatalf("set-password did not ask for password %d with echo off within 10 s (prompts so far: %q)", wantPrompts, prompts.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			io.WriteString(keyboard, line+"\n")
		}
		select {
		case err = <-finished:
		case <-time.After(30 * time.Second):
			t.Fatal("set-password did not finish")
		}
		if !echoing(t, terminal) {
			t.Fatal("set-password left the terminal without echo")
		}
		terminal.Close() // the keyboard side then reads what the terminal showed, then EIO
		var screen bytes.Buffer
		io.Copy(&screen, keyboard)
		return screen.String(), out.String(), err
	}

	t.Run("typed twice, never shown", func(t *testing.T) {
		shown, stdout, err := setPassword(t, "Term1nal-Pass!", "Term1nal-Pass!")
		if err != nil {
			t.Fatalf("set-password: %v", err)
		}
		if strings.Contains(shown, "Term1nal") {
			t.Fatalf("the terminal showed the password: %q", shown)
		}
		if !strings.Contains(stdout, "password of \"alice\" changed") {
			t.Fatalf("stdout: %q", stdout)
		}
		ts.token("alice", "Term1nal-Pass!")
	})
	t.Run("two different passwords change nothing", func(t *testing.T) {
		_, _, err := setPassword(t, "Other-Pass1!", "Other-Pass2!")
		if err == nil || !strings.Contains(err.Error(), "differ") {
			t.Fatalf("set-password with two different passwords: %v, want an error saying they differ", err)
		}
		ts.token("alice", "Term1nal-Pass!")
	})
}

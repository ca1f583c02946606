// Command ceiling is the load harness's yardstick: a bare net/http server
// that answers every request with one fixed JSON body of about 250 bytes,
// the size of a GET /me answer. Whatever ticketapi serves per second is
// compared with what this serves on the same machine in the same run.
//
// It listens on a loopback address (port 0: a free one) and prints
// "listening HOST:PORT" on stdout once it accepts connections.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
)

const body = `{"id":1,"username":"admin","first_name":"Admin","last_name":"Admin",` +
	`"phone":"+0000000000","email":"admin@example.com","role":["admin"],"disabled":false,` +
	`"login_denied":false,"created":"2024-01-01 00:00:00","updated":null,` +
	`"note":"fixed ~250-byte body"}`

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (keep it on loopback)")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	payload := []byte(body)
	length := strconv.Itoa(len(payload))
	fmt.Fprintf(os.Stdout, "listening %s body_bytes=%d\n", ln.Addr(), len(payload))
	log.Fatal(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", length)
		w.Write(payload)
	})))
}

// A server using github.com/facebookgo/grace: it takes inherited
// listeners from LISTEN_FDS (gracenet), restarts itself on SIGUSR2 (the
// successor is its child and sends the old one SIGTERM once it serves),
// and writes its pid to $PIDFILE when it serves, so that a supervisor can
// follow the successor. It answers with the content of $APP_CONFIG.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"strconv"

	"github.com/facebookgo/grace/gracehttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address")
	flag.Parse()
	body := []byte("ok\n")
	if p := os.Getenv("APP_CONFIG"); p != "" {
		if b, err := os.ReadFile(p); err == nil {
			body = b
		}
	}
	if p := os.Getenv("PIDFILE"); p != "" {
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0644); err == nil {
			os.Rename(tmp, p)
		}
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	if err := gracehttp.Serve(&http.Server{Addr: *addr, Handler: h}); err != nil {
		log.Fatal(err)
	}
}

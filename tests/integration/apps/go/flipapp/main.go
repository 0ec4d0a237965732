// A server using github.com/cloudflare/tableflip: SIGHUP upgrades it in
// place (a new process, its child, inherits the listener, says it is
// ready, writes -pid-file, and the old one drains and exits). It answers
// with the content of $APP_CONFIG, read when each process starts.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:8080", "address")
	pidFile := flag.String("pid-file", "", "pid file")
	flag.Parse()
	body := []byte("ok\n")
	if p := os.Getenv("APP_CONFIG"); p != "" {
		if b, err := os.ReadFile(p); err == nil {
			body = b
		}
	}
	upg, err := tableflip.New(tableflip.Options{PIDFile: *pidFile})
	if err != nil {
		log.Fatal(err)
	}
	defer upg.Stop()
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM)
		for s := range sig {
			if s == syscall.SIGTERM {
				upg.Stop()
				return
			}
			if err := upg.Upgrade(); err != nil {
				log.Println("upgrade failed:", err)
			}
		}
	}()
	ln, err := upg.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(body)
	})}
	go srv.Serve(ln)
	if err := upg.Ready(); err != nil {
		log.Fatal(err)
	}
	<-upg.Exit()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}

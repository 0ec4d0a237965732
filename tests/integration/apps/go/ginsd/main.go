// A Gin server that takes its listener from systemd socket activation
// (LISTEN_FDS, github.com/coreos/go-systemd/activation), says READY=1
// over sd_notify once it serves, and drains on SIGTERM. It answers with
// the content of $APP_CONFIG (read at start).
package main

import (
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/activation"
	"github.com/coreos/go-systemd/daemon"
	"github.com/gin-gonic/gin"
)

func main() {
	body := []byte("ok\n")
	if p := os.Getenv("APP_CONFIG"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			log.Fatal(err)
		}
		body = b
	}
	listeners, err := activation.Listeners()
	if err != nil || len(listeners) != 1 {
		log.Fatalf("want one socket from LISTEN_FDS: %v (%d)", err, len(listeners))
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/", func(c *gin.Context) { c.Data(http.StatusOK, "text/plain", body) })
	srv := &http.Server{Handler: r}
	go func() {
		if err := srv.Serve(listeners[0]); err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()
	daemon.SdNotify(false, daemon.SdNotifyReady)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}

// The dev loop's example app (docs/dev-loop.md): a Gin server whose
// answer lives in message.go, the file a developer edits. It serves on the
// socket podvisor holds (LISTEN_FDS, github.com/coreos/go-systemd/activation)
// so that a restart refuses no connection, and binds $PORT itself without
// one (as under entr). It says READY=1 once it serves (sd_notify: a no-op
// without NOTIFY_SOCKET) and drains on SIGTERM.
package main

import (
	"context"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/activation"
	"github.com/coreos/go-systemd/daemon"
	"github.com/gin-gonic/gin"
)

func listener() net.Listener {
	ls, err := activation.Listeners()
	if err == nil && len(ls) > 0 {
		return ls[0]
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		log.Fatal(err)
	}
	return l
}

func main() {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/", func(c *gin.Context) { c.String(http.StatusOK, "%s\n", Message) })
	srv := &http.Server{Handler: r}
	l := listener()
	go func() {
		if err := srv.Serve(l); err != http.ErrServerClosed {
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

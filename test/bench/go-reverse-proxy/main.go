// The benchmark's peer-class reference (`npm run bench`, docs/benchmarks.md): the work llama-swap
// (Go) does for each proxied request, and nothing more. llama-swap reads the whole request body to
// find the `model` it names, then hands the request to net/http/httputil.ReverseProxy with an
// http.Transport that keeps up to 10 idle connections per upstream. This program does the same,
// without llama-swap's routing table, logging or metrics, so its cost per request is a lower bound
// on llama-swap's.
//
//	go build -o go-reverse-proxy . && ./go-reverse-proxy LISTEN_PORT UPSTREAM_PORT
//
// Standard library only (Go 1.19, Debian bookworm's golang-go, is enough; nothing is downloaded).
package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"time"
)

// modelOnly decodes just the field the router needs; the rest of the body passes through as bytes.
type modelOnly struct {
	Model string `json:"model"`
}

func port(arg string) string {
	if p, err := strconv.Atoi(arg); err != nil || p <= 0 || p > 65535 {
		log.Fatalf("not a port: %q", arg)
	}
	return arg
}

func main() {
	log.SetFlags(0)
	if len(os.Args) != 3 {
		log.Fatal("usage: go-reverse-proxy LISTEN_PORT UPSTREAM_PORT")
	}
	listen := "127.0.0.1:" + port(os.Args[1])
	target := &url.URL{Scheme: "http", Host: "127.0.0.1:" + port(os.Args[2])}

	rp := httputil.NewSingleHostReverseProxy(target)
	// The Transport settings llama-swap gives its upstream proxies.
	rp.Transport = &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: 10,
		IdleConnTimeout:     90 * time.Second,
	}

	handler := func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "could not read the request body", http.StatusBadRequest)
			return
		}
		var m modelOnly
		if err := json.Unmarshal(raw, &m); err != nil || m.Model == "" {
			http.Error(w, "the body must be JSON naming a model", http.StatusBadRequest)
			return
		}
		// The body was consumed: give the proxy a fresh reader over the same bytes.
		r.Body = io.NopCloser(bytes.NewReader(raw))
		r.ContentLength = int64(len(raw))
		rp.ServeHTTP(w, r)
	}

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		log.Fatal(err)
	}
	// Printed once the socket is bound: the bench waits for this line.
	log.Printf("go-reverse-proxy listening on http://%s, forwarding to %s", ln.Addr(), target)
	log.Fatal(http.Serve(ln, http.HandlerFunc(handler)))
}

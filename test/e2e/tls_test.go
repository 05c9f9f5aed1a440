package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/tlsx/tlsxtest"
	"github.com/zhibo-live/zhibo/internal/viewer"
)

// With TLS on the HTTP and raw TCP listeners, the API answers over HTTPS, viewers connect
// over WSS and over TLS on TCP and receive a comment; plain HTTP is refused; a renewed
// certificate on disk is served to the next connection without a restart.
func TestTLSOnEveryListener(t *testing.T) {
	dir := t.TempDir()
	ca := tlsxtest.NewCA(t, dir)
	certFile, keyFile := ca.Issue(t, dir, "server", "first", false)
	n := startAllInOne(t, func(c *config.Config) {
		c.Gateway.TLSCertFile, c.Gateway.TLSKeyFile = certFile, keyFile
		c.Comet.TLSCertFile, c.Comet.TLSKeyFile = certFile, keyFile
		c.Gateway.HSTSMaxAge = time.Hour
	})
	host := strings.TrimPrefix(n.URL, "http://")
	base := "https://" + host
	tlsCfg := &tls.Config{RootCAs: ca.Pool}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	call := func(method, path, tok string, body, out any) int {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = strings.NewReader(string(b))
		}
		req, err := http.NewRequest(method, base+path, rd)
		require.NoError(t, err)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var env struct{ Data json.RawMessage }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
		if out != nil {
			require.NoError(t, json.Unmarshal(env.Data, out))
		}
		return resp.StatusCode
	}
	type user struct {
		UID   int64  `json:"uid"`
		Token string `json:"token"`
	}
	var anchor, fan user
	require.Equal(t, 200, call("POST", "/api/auth/register", "", map[string]string{"name": "tlsanchor", "password": "password1"}, &anchor))
	require.Equal(t, 200, call("POST", "/api/auth/register", "", map[string]string{"name": "tlsfan", "password": "password1"}, &fan))
	var room struct {
		ID int64 `json:"id"`
	}
	require.Equal(t, 200, call("POST", "/api/rooms", anchor.Token, map[string]string{"title": "tls"}, &room))
	var info struct {
		Token string `json:"token"`
	}
	require.Equal(t, 200, call("GET", fmt.Sprintf("/api/rooms/%d/danmu-info", room.ID), fan.Token, nil, &info))

	ctx := context.Background()
	wss, err := viewer.Dial(ctx, viewer.Options{Addr: "wss://" + host + "/sub", WS: true, TLS: tlsCfg, UID: fan.UID, RoomID: room.ID, Token: info.Token, ProtoVer: 2})
	require.NoError(t, err, "WebSocket over TLS")
	defer wss.Close()
	tcp, err := viewer.Dial(ctx, viewer.Options{Addr: n.TCPAddr, TLS: tlsCfg, UID: fan.UID, RoomID: room.ID, Token: info.Token, ProtoVer: 3})
	require.NoError(t, err, "raw TCP over TLS")
	defer tcp.Close()
	require.Equal(t, 200, call("POST", fmt.Sprintf("/api/rooms/%d/danmaku", room.ID), fan.Token, map[string]any{"text": "over tls"}, nil))
	waitFor(t, wss, "DANMU_MSG over WSS", isCmd("DANMU_MSG"))
	waitFor(t, tcp, "DANMU_MSG over TLS", isCmd("DANMU_MSG"))

	hsts, err := hc.Get(base + "/")
	require.NoError(t, err)
	hsts.Body.Close()
	require.Equal(t, "max-age=3600", hsts.Header.Get("Strict-Transport-Security"))

	// Plain HTTP to the HTTPS port is refused; plain TCP gets no auth reply.
	resp, err := http.Get("http://" + host + "/api/rooms")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = viewer.Dial(dctx, viewer.Options{Addr: n.TCPAddr, UID: fan.UID, RoomID: room.ID, Token: info.Token})
	require.Error(t, err)

	// Renewal: new files on disk, served to new connections within a couple of seconds.
	peer := func(addr string) string {
		c, err := tls.Dial("tcp", addr, tlsCfg)
		require.NoError(t, err)
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	require.Equal(t, "first", peer(host))
	require.Equal(t, "first", peer(n.TCPAddr))
	time.Sleep(10 * time.Millisecond) // a later modification time than the first files
	ca.Issue(t, dir, "server", "renewed", false)
	require.Eventually(t, func() bool { return peer(host) == "renewed" && peer(n.TCPAddr) == "renewed" },
		15*time.Second, 100*time.Millisecond, "the renewed certificate is served without a restart")
	// A broken renewal keeps the good certificate.
	tlsxtest.WriteAtomic(t, certFile, []byte("not a certificate"))
	time.Sleep(1100 * time.Millisecond)
	require.Equal(t, "renewed", peer(host))
}

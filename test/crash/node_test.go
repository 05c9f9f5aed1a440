// Package crash kills the real zhibo binary with SIGKILL in the middle of work, restarts it on
// the same data and checks that nothing acknowledged was lost or applied twice.
package crash

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/test/testbin"
)

// node is one run of `zhibo up`.
type node struct {
	proc   *testbin.Proc
	url    string
	client *http.Client
}

// startNode runs `zhibo up` on dataDir with args added and waits for its URL.
func startNode(t *testing.T, bin, dataDir string, args ...string) *node {
	all := append([]string{"up", "-data_dir", dataDir, "-gateway.http_addr", "127.0.0.1:0",
		"-comet.tcp_addr", "127.0.0.1:0", "-media.rtmp_addr", "127.0.0.1:0", "-account.bcrypt_cost", "4", "-gateway.rate_per_ip", "0", "-account.limits.register_per_ip_hour", "0",
		"-log.level", "warn"}, args...)
	p := testbin.Start(t, "zhibo", bin, all...)
	return &node{proc: p, url: p.URL, client: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	}}
}

// kill is kill -9.
func (n *node) kill(t *testing.T) { n.proc.Kill(t) }

// call sends a JSON request and decodes the envelope's data into out. It returns the HTTP
// status, or an error when no response arrived.
func (n *node) call(method, path, tok string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.url+path, rd)
	if err != nil {
		return 0, err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err // the response did not arrive whole: not acknowledged
	}
	var env struct {
		Code int             `json:"code"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: %w: %s", method, path, err, raw)
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

// must is call that requires a 200.
func (n *node) must(t *testing.T, method, path, tok string, body, out any) {
	t.Helper()
	status, err := n.call(method, path, tok, body, out)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, "%s %s", method, path)
}

type session struct {
	UID   int64  `json:"uid"`
	Token string `json:"token"`
}

func (n *node) register(t *testing.T, name string) session {
	var s session
	n.must(t, "POST", "/api/auth/register", "", map[string]string{"name": name, "password": "password1"}, &s)
	return s
}

// mysqlArgs creates a fresh database on the server of ZHIBO_TEST_MYSQL_DSN (skipping without
// it), dropped when t ends, and returns the flags that point zhibo at it.
func mysqlArgs(t *testing.T) []string {
	dsn := sqltest.MySQLDSN(t)
	cfg, err := mysql.ParseDSN(dsn)
	require.NoError(t, err)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "zhibo_crash_" + hex.EncodeToString(b)
	admin, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.ExecContext(context.Background(), "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		if a, err := sql.Open("mysql", dsn); err == nil {
			_, _ = a.Exec("DROP DATABASE IF EXISTS " + name)
			a.Close()
		}
	})
	cfg.DBName = name
	return []string{"-store.driver", "mysql", "-store.dsn", cfg.FormatDSN()}
}

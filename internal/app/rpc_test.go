package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
	"github.com/zhibo-live/zhibo/internal/room"
)

// POST /rpc/<service>/<method> with JSON reaches a component's gRPC method in process, for
// admins only; errors keep their gRPC code (as Connect error codes).
func TestRPCOverHTTPJSON(t *testing.T) {
	a, base := startAll(t, filepath.Join(t.TempDir(), "data"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	op, err := a.Account.SignUp(ctx, "rpc_operator", "password1")
	require.NoError(t, err)
	user, err := a.Account.SignUp(ctx, "rpc_user", "password1")
	require.NoError(t, err)
	rm, err := a.Room.Create(ctx, user.UID, room.Fields{Title: ptr("over json")})
	require.NoError(t, err)
	a.reload.admins.Store(&[]int64{op.UID})

	call := func(tok, path, body string) (int, map[string]any) {
		req, err := http.NewRequest("POST", base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(b, &out)
		return resp.StatusCode, out
	}
	code, out := call(op.Token, "/rpc/zhibo.room.v1.RoomService/GetRoom", `{"id":`+itoa(rm.ID)+`}`)
	require.Equal(t, 200, code, "%v", out)
	require.Equal(t, "over json", out["title"])
	require.Equal(t, itoa(user.UID), fmt.Sprint(out["ownerUid"]), "fields in the protobuf JSON mapping")

	code, out = call(op.Token, "/rpc/zhibo.account.v1.AccountService/Verify", `{"token":"`+user.Token+`"}`)
	require.Equal(t, 200, code, "%v", out)
	require.Equal(t, itoa(user.UID), fmt.Sprint(out["uid"]))

	code, out = call(op.Token, "/rpc/zhibo.room.v1.RoomService/GetRoom", `{"id":"424242"}`)
	require.Equal(t, 404, code)
	require.Equal(t, "not_found", out["code"], "the gRPC code crosses as a Connect error")

	code, _ = call(op.Token, "/rpc/zhibo.room.v1.RoomService/GetRoom", `{"id":`)
	require.Equal(t, 400, code, "malformed JSON")
	code, _ = call(op.Token, "/rpc/zhibo.room.v1.RoomService/GetRoom", `{"id":1,"nope":2}`)
	require.Equal(t, 400, code, "an unknown field")
	code, _ = call(op.Token, "/rpc/zhibo.room.v1.RoomService/GetRoom", `{"id":"`+strings.Repeat("9", 2<<20)+`"}`)
	require.Equal(t, 413, code)
	code, _ = call(op.Token, "/rpc/zhibo.room.v1.RoomService/NoSuchMethod", `{}`)
	require.Equal(t, 404, code)
	code, _ = call(user.Token, "/rpc/zhibo.room.v1.RoomService/GetRoom", `{"id":1}`)
	require.Equal(t, 403, code, "not an admin")
	code, _ = call("", "/rpc/zhibo.room.v1.RoomService/GetRoom", `{"id":1}`)
	require.Equal(t, 401, code)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A front gateway sends /rpc/ calls of a component it forwards to that component's process.
func TestRPCForwardedToTheComponentsProcess(t *testing.T) {
	natsURL := queuetest.URL(t)
	back, backURL := startAll(t, filepath.Join(t.TempDir(), "data"), func(c *config.Config) {
		c.GRPCAddr = "127.0.0.1:0"
		c.Queue.URL, c.Queue.Namespace = natsURL, queuetest.Namespace(t, natsURL, "rpcfwd")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	op, err := back.Account.SignUp(ctx, "rpc_front_op", "password1")
	require.NoError(t, err)
	rm, err := back.Room.Create(ctx, op.UID, room.Fields{Title: ptr("behind the front")})
	require.NoError(t, err)
	back.reload.admins.Store(&[]int64{op.UID})

	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Gateway.HTTPAddr = "127.0.0.1:0"
	cfg.Peers.Account = back.GRPCAddr().String()
	cfg.Gateway.Upstreams = map[string]string{"room": backURL}
	front, err := New(cfg, []string{"gateway"}, obs.Discard())
	require.NoError(t, err)
	require.NoError(t, front.Start(ctx))
	t.Cleanup(func() { require.NoError(t, front.Stop(context.Background())) })
	front.reload.admins.Store(&[]int64{op.UID})

	req, err := http.NewRequest("POST", "http://"+front.HTTPAddr().String()+"/rpc/zhibo.room.v1.RoomService/GetRoom",
		strings.NewReader(`{"id":`+itoa(rm.ID)+`}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+op.Token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, 200, resp.StatusCode, "%v", out)
	require.Equal(t, "behind the front", out["title"])

	req, _ = http.NewRequest("POST", "http://"+front.HTTPAddr().String()+"/rpc/zhibo.gift.v1.GiftService/Balance", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+op.Token)
	resp2, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp2.Body.Close()
	require.Equal(t, 404, resp2.StatusCode, "gift is neither here nor forwarded")
}

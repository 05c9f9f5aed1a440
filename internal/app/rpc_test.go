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

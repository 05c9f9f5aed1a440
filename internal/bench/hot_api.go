package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// createRoom makes anchor's room (not live) and returns its id.
func (a *apiClient) createRoom(ctx context.Context, anchor session, title string) (int64, error) {
	var rm struct {
		ID int64 `json:"id"`
	}
	if err := a.call(ctx, "POST", "/api/rooms", anchor.Token, map[string]string{"title": title}, &rm); err != nil {
		return 0, fmt.Errorf("create room: %w", err)
	}
	return rm.ID, nil
}

// getRoom reads a room's public page as a guest; the body is read and dropped, since only
// the status and the time matter to a read storm.
func (a *apiClient) getRoom(ctx context.Context, id int64) error { return a.get(ctx, roomPath(id, "")) }

// getEnter reads room id's page.
func (a *apiClient) getEnter(ctx context.Context, id int64) error {
	return a.get(ctx, "/api/room/enter?id="+strconv.FormatInt(id, 10))
}

// pinRoom pins room id hot for d through the admin API.
func (a *apiClient) pinRoom(ctx context.Context, tok string, id int64, d time.Duration) error {
	return a.call(ctx, "POST", "/api/admin/hot/rooms/"+strconv.FormatInt(id, 10), tok,
		map[string]string{"for": d.String(), "reason": "zhibo bench hot read"}, nil)
}

// get reads path and discards the body of a 200.
func (a *apiClient) get(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", a.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return err
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var env struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(raw, &env)
	return &apiError{Status: resp.StatusCode, Code: env.Code, Message: env.Message}
}

// giftOrder is what the platform answers to a gift send.
type giftOrder struct {
	ID    int64 `json:"id"`
	Total int64 `json:"total"`
}

// sendGift sends num of giftID to room id as the user of tok, under the idempotency key.
func (a *apiClient) sendGift(ctx context.Context, tok string, roomID, giftID, num int64, key string) (giftOrder, error) {
	var o giftOrder
	err := a.call(ctx, "POST", roomPath(roomID, "/gifts"), tok,
		map[string]any{"gift_id": giftID, "num": num, "idempotency_key": key}, &o)
	return o, err
}

// anchorScore is the score of room id's anchor as the rank list shows it.
func (a *apiClient) anchorScore(ctx context.Context, roomID int64) (int64, error) {
	var rk struct {
		AnchorScore int64 `json:"anchor_score"`
	}
	if err := a.call(ctx, "GET", roomPath(roomID, "/rank?limit=1"), "", nil, &rk); err != nil {
		return 0, fmt.Errorf("room %d rank: %w", roomID, err)
	}
	return rk.AnchorScore, nil
}

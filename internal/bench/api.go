package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// apiClient calls the platform's public JSON API, as a browser or app would.
type apiClient struct {
	base string
	hc   *http.Client
}

// apiError is a non-zero envelope code (or a non-200 status) with the server's message.
type apiError struct {
	Status  int
	Code    int
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("HTTP %d, code %d: %s", e.Status, e.Code, e.Message)
}

// call sends body as JSON (when not nil) and decodes the envelope's data into out.
func (a *apiClient) call(ctx context.Context, method, path, tok string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	var env struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return &apiError{Status: resp.StatusCode, Code: -1, Message: fmt.Sprintf("not a JSON envelope: %.120q", raw)}
	}
	if resp.StatusCode != http.StatusOK || env.Code != 0 {
		return &apiError{Status: resp.StatusCode, Code: env.Code, Message: env.Message}
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return fmt.Errorf("%s %s: decode data: %w", method, path, err)
		}
	}
	return nil
}

type session struct {
	UID   int64  `json:"uid"`
	Token string `json:"token"`
}

func (a *apiClient) register(ctx context.Context, name string) (session, error) {
	var s session
	err := a.call(ctx, "POST", "/api/auth/register", "", map[string]string{"name": name, "password": "bench-" + name}, &s)
	if err != nil {
		return s, fmt.Errorf("register %s: %w", name, err)
	}
	return s, nil
}

// liveRoom creates a room owned by anchor and starts its stream.
func (a *apiClient) liveRoom(ctx context.Context, anchor session, title string) (int64, error) {
	var rm struct {
		ID int64 `json:"id"`
	}
	if err := a.call(ctx, "POST", "/api/rooms", anchor.Token, map[string]string{"title": title}, &rm); err != nil {
		return 0, fmt.Errorf("create room: %w", err)
	}
	if err := a.call(ctx, "POST", "/api/rooms/"+strconv.FormatInt(rm.ID, 10)+"/live", anchor.Token, map[string]bool{"on": true}, nil); err != nil {
		return 0, fmt.Errorf("room %d go live: %w", rm.ID, err)
	}
	return rm.ID, nil
}

// danmuInfo is the guest (uid 0) connection token of a room and the comet's raw TCP port.
type danmuInfo struct {
	Token    string `json:"token"`
	HostList []struct {
		Host   string `json:"host"`
		Port   int    `json:"port"`
		WSPort int    `json:"ws_port"`
	} `json:"host_list"`
}

func (a *apiClient) danmuInfo(ctx context.Context, roomID int64) (danmuInfo, error) {
	var d danmuInfo
	if err := a.call(ctx, "GET", "/api/rooms/"+strconv.FormatInt(roomID, 10)+"/danmu-info", "", nil, &d); err != nil {
		return d, fmt.Errorf("room %d danmu-info: %w", roomID, err)
	}
	if d.Token == "" {
		return d, fmt.Errorf("room %d danmu-info: empty token", roomID)
	}
	return d, nil
}

// sendDanmaku posts one comment.
func (a *apiClient) sendDanmaku(ctx context.Context, tok string, roomID int64, text []byte) error {
	body := make([]byte, 0, len(text)+16)
	body = append(body, `{"text":"`...)
	body = append(body, text...) // bench text is plain ASCII without quotes or backslashes
	body = append(body, `"}`...)
	req, err := http.NewRequestWithContext(ctx, "POST", a.base+"/api/rooms/"+strconv.FormatInt(roomID, 10)+"/danmaku", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var env struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(raw, &env)
	return &apiError{Status: resp.StatusCode, Code: env.Code, Message: env.Message}
}

// hint adds what to do about errors a bench run commonly meets.
func hint(err error) string {
	var ae *apiError
	if !errors.As(err, &ae) {
		return ""
	}
	switch ae.Status {
	case http.StatusTooManyRequests:
		return " (rate limited: start the server with -gateway.rate_per_ip 0 -account.limits.register_per_ip_hour 0, and keep -sender_rate within its danmaku.rate or set that to 0)"
	case http.StatusBadRequest:
		return " (a comment longer than the server's danmaku.max_runes? lower -msg_size)"
	}
	return ""
}

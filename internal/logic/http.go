package logic

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

//go:embed openapi.json
var openapi []byte

// OpenAPI is this component's fragment of the API description.
func OpenAPI() []byte { return openapi }

// Register mounts the danmu-info routes (zhibo's own and the Bilibili-compatible one).
func (s *Service) Register(mux *http.ServeMux) {
	mux.Handle("GET /api/rooms/{id}/danmu-info", httpx.Handle(s.log, s.handleDanmuInfo))
	mux.Handle("GET /xlive/web-room/v1/index/getDanmuInfo", http.HandlerFunc(s.handleBiliDanmuInfo))
}

// DanmuInfo is what a client needs to open a long connection to a room.
type DanmuInfo struct {
	Token    string `json:"token"`
	HostList []Host `json:"host_list"`
}

func (s *Service) danmuInfo(r *http.Request, roomID int64) (DanmuInfo, error) {
	uid, _ := httpx.UID(r.Context())
	tok, err := s.IssueConnToken(r.Context(), uid, roomID)
	if err != nil {
		return DanmuInfo{}, err
	}
	hosts := s.cfg.Hosts
	if len(hosts) == 0 && s.deps.LocalHosts != nil {
		hosts = s.deps.LocalHosts(r)
	}
	if hosts == nil {
		hosts = []Host{}
	}
	return DanmuInfo{Token: tok, HostList: hosts}, nil
}

func (s *Service) handleDanmuInfo(w http.ResponseWriter, r *http.Request) error {
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	info, err := s.danmuInfo(r, id)
	if err != nil {
		return err
	}
	return httpx.OK(w, info)
}

// handleBiliDanmuInfo answers in Bilibili's own shape, so clients that bootstrap from
// getDanmuInfo work unmodified.
func (s *Service) handleBiliDanmuInfo(w http.ResponseWriter, r *http.Request) {
	type data struct {
		Group            string  `json:"group"`
		BusinessID       int     `json:"business_id"`
		RefreshRowFactor float64 `json:"refresh_row_factor"`
		RefreshRate      int     `json:"refresh_rate"`
		MaxDelay         int     `json:"max_delay"`
		Token            string  `json:"token"`
		HostList         []Host  `json:"host_list"`
	}
	type env struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		TTL     int    `json:"ttl"`
		Data    *data  `json:"data"`
	}
	id, err := strconv.ParseInt(r.URL.Query().Get("id"), 10, 64)
	var info DanmuInfo
	if err != nil || id <= 0 {
		err = apierr.BadRequest.Withf("query parameter id must be a positive room id")
	} else {
		info, err = s.danmuInfo(r, id)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if err != nil {
		e := apierr.From(err)
		if e.Status >= 500 {
			s.log.ErrorContext(r.Context(), "getDanmuInfo failed", "err", err)
		}
		w.WriteHeader(e.Status)
		_ = jsonEncode(w, env{Code: e.Code, Message: e.Message, TTL: 1})
		return
	}
	_ = jsonEncode(w, env{Code: 0, Message: "0", TTL: 1, Data: &data{
		Group: "live", RefreshRowFactor: 0.125, RefreshRate: 100, MaxDelay: 5000,
		Token: info.Token, HostList: info.HostList,
	}})
}

func jsonEncode(w http.ResponseWriter, v any) error { return json.NewEncoder(w).Encode(v) }

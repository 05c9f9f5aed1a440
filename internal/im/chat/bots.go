package chat

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// Bot is an assistant bot: a user whose messages are answered by a webhook. A message to
// the bot is POSTed to URL, signed with Secret; the text the webhook answers is sent back
// to the user as the bot's reply.
type Bot struct {
	UID    int64  `yaml:"uid" json:"uid"`
	URL    string `yaml:"url" json:"url"`
	Secret string `yaml:"secret" json:"secret"`
}

// Headers of a webhook call: the time it was signed (unix seconds) and the signature,
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
const (
	HeaderTimestamp = "X-Zhibo-Timestamp"
	HeaderSignature = "X-Zhibo-Signature"
)

// Limits of a webhook call: the answer read, and the tries of one message (past them the
// message is dropped from the bot's queue and logged: the user's message itself is stored).
const (
	maxBotAnswer = 64 << 10
	botTries     = 10
)

func validateBots(bots []Bot) error {
	seen := map[int64]bool{}
	for i, b := range bots {
		u, err := url.Parse(b.URL)
		switch {
		case b.UID <= 0 || seen[b.UID]:
			return fmt.Errorf("im_chat.bots[%d]: uid %d must be a user id, once", i, b.UID)
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			return fmt.Errorf("im_chat.bots[%d]: url %q must be an http or https URL", i, b.URL)
		case len(b.Secret) < 16:
			return fmt.Errorf("im_chat.bots[%d]: secret must be at least 16 characters", i)
		}
		seen[b.UID] = true
	}
	return nil
}

// Sign is the signature of a webhook call's body at unix time ts (HeaderSignature).
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10) + "."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// BotCall is the body of a webhook call.
type BotCall struct {
	Type    string  `json:"type"` // "message"
	Bot     int64   `json:"bot"`
	Message Message `json:"message"`
}

// BotAnswer is what a webhook answers (200): the reply to send, or "" for none.
type BotAnswer struct {
	Reply string `json:"reply"`
}

// isBot reports whether uid is one of the bots.
func (s *Service) isBot(uid int64) bool {
	for _, b := range s.cfg.Bots {
		if b.UID == uid {
			return true
		}
	}
	return false
}

// startBots runs a consumer per bot on the messages sent to it.
func (s *Service) startBots(ctx context.Context) error {
	for _, b := range s.cfg.Bots {
		if err := s.consumers.Consume(ctx, s.q, queue.ConsumerSpec{Stream: s.stream(), Durable: "im-chat-bot-" + strconv.FormatInt(b.UID, 10),
			Filter: s.q.Subject(subjectPrefix + strconv.FormatInt(b.UID, 10)), AckWait: 2 * s.cfg.BotTimeout, MaxPending: 64},
			func(m queue.Msg) { s.callBot(b, m) }); err != nil {
			return fmt.Errorf("im-chat: bot %d: %w", b.UID, err)
		}
	}
	return nil
}

// callBot hands a message to its bot's webhook and sends the answer back, once: the reply's
// client id is derived from the message, so a retried call replies once.
func (s *Service) callBot(b Bot, qm queue.Msg) {
	m, err := decodeMessage(qm.Data())
	if err != nil {
		_ = qm.Term()
		return
	}
	reply, err := s.askBot(b, m)
	if err == nil && reply != "" {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.BotTimeout)
		_, _, err = s.Send(ctx, b.UID, SendInput{To: m.From, Text: reply, ClientID: "bot-" + strconv.FormatInt(m.ID, 10)})
		cancel()
		if errors.Is(err, ErrBlocked) || errors.Is(err, ErrNotAccepting) || errors.Is(err, ErrBadInput) || errors.Is(err, ErrBanned) {
			s.log.Info("im-chat: bot reply refused", "bot", b.UID, "to", m.From, "err", err)
			err = nil // the user's settings or the text: trying again changes nothing
		}
	}
	if err == nil {
		s.m.bots.WithLabelValues("answered").Inc()
		_ = qm.Ack()
		return
	}
	if md, merr := qm.Metadata(); merr == nil && md.NumDelivered >= botTries {
		s.m.bots.WithLabelValues("dropped").Inc()
		s.log.Error("im-chat: bot webhook failed every try, message not answered", "bot", b.UID, "message", m.ID, "err", err)
		_ = qm.Term()
		return
	}
	s.m.bots.WithLabelValues("retried").Inc()
	s.log.Warn("im-chat: bot webhook failed, trying again", "bot", b.UID, "message", m.ID, "err", err)
	_ = qm.NakWithDelay(time.Second)
}

// askBot POSTs the signed call and returns the reply.
func (s *Service) askBot(b Bot, m Message) (string, error) {
	body, err := json.Marshal(BotCall{Type: "message", Bot: b.UID, Message: m})
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.BotTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.URL, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	ts := s.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(b.Secret, ts, body))
	res, err := s.botClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxBotAnswer+1))
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("webhook answered %s", res.Status)
	}
	if len(raw) > maxBotAnswer {
		return "", fmt.Errorf("webhook answer over %d bytes", maxBotAnswer)
	}
	var a BotAnswer
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &a); err != nil {
			return "", fmt.Errorf("webhook answer: %w", err)
		}
	}
	return a.Reply, nil
}
